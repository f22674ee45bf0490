"""The command line: the parser, the commands that need no UI, and headless progress lines."""
