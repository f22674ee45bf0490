"""`llmlearns-tui`: the TUI by default; `--headless`, `attach` and `runs` for terminals without one.

Nothing heavy is imported before it is needed: the headless path never loads Textual, and the TUI
draws its first frame before the worker (and with it torch) has started.
"""

from __future__ import annotations

import os
import sys

from engine.cli import (
    build_attach_parser,
    build_parser,
    config_from_args,
    connect_from_args,
    fail,
    list_runs_command,
    run_headless,
    stop_command,
)
from engine.errors import EngineError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["runs"]:
        return list_runs_command(argv[1:])
    if argv[:1] == ["stop"]:
        return stop_command(argv[1:])
    attach = argv[:1] == ["attach"]
    args = (build_attach_parser() if attach else build_parser()).parse_args(
        argv[1:] if attach else argv
    )
    if not attach and args.json and not args.headless:
        return fail("--json goes with --headless")
    if args.headless or (not attach and args.detach):
        return run_headless(args, attach)
    try:
        initial = None if attach or args.resume else config_from_args(args)
    except EngineError as error:
        return fail(str(error))
    from tui.app import run_app

    def start_new(config):
        from engine.client import EngineClient

        return EngineClient.start(config)

    return run_app(
        lambda: connect_from_args(args, attach), start_new=start_new, initial_config=initial
    )


def entry() -> int:
    """The console script: main() plus a quiet exit when stdout is a closed pipe (`| head`)."""
    try:
        return main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(entry())
