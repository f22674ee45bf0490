"""The command line: the parser, the commands that need no UI, and headless progress lines.

`tui/cli.py` extends it with the TUI; these are the names it uses.
"""

from engine.cli.commands import (
    check_args,
    connect_from_args,
    export_command,
    fail,
    list_runs_command,
    parse_args,
    print_in_background,
    run_command,
    run_headless,
    stop_command,
)

__all__ = [
    "check_args", "connect_from_args", "export_command", "fail", "list_runs_command",
    "parse_args", "print_in_background", "run_command", "run_headless", "stop_command",
]  # fmt: skip
