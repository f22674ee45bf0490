"""`llmlearns-tui`: the TUI by default; `--headless`, `attach`, `runs` and `stop` work without one.

Nothing heavy is imported before it is needed: the headless path never loads Textual, and the TUI
draws its first frame before the worker (and with it torch) has started. Input that can be refused
without a worker is refused here, in one line, before any UI opens.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from engine.cli import (
    check_args,
    connect_from_args,
    fail,
    list_runs_command,
    parse_args,
    print_in_background,
    run_headless,
    stop_command,
)
from engine.errors import EngineError


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "runs":
        return list_runs_command(args)
    if args.command == "stop":
        return stop_command(args)
    try:
        initial = check_args(args)
    except EngineError as error:
        return fail(str(error))
    if args.headless or getattr(args, "detach", False):
        return run_headless(args)
    return run_tui(args, initial)


def run_tui(args, initial) -> int:
    from engine.client import EngineClient
    from tui.app import run_app

    clients = []  # every client the app used; the last is the run on screen when it quit

    def connect():
        clients.append(connect_from_args(args))
        return clients[-1]

    def start_new(config):
        clients.append(EngineClient.start(config))
        return clients[-1]

    code = run_app(connect, start_new=start_new, initial_config=initial, tour=args.tour)
    if clients and _still_training(clients[-1].run_dir):
        print_in_background(clients[-1].run_dir, "{run_dir} keeps training in the background")
    return code


def _still_training(run_dir: Path) -> bool:
    """Whether a worker still trains the run (detached on quit, or another client's run)."""
    from engine.run_listing import summarize_run, worker_alive

    return worker_alive(run_dir) and summarize_run(run_dir).state.live


def entry() -> int:
    """The console script: main() plus a quiet exit when stdout is a closed pipe (`| head`)."""
    try:
        return main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(entry())
