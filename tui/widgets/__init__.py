"""Widgets of the llm-learns TUI, one per module."""
