"""Screens of the llm-learns TUI: help, quit, new run."""
