"""`llmlearns-tui`: the TUI by default (and for `replay`); `--headless`, `attach`, `runs`, `stop`,
`export` and `report` work without one, and `serve` shows it in web browsers.

Nothing heavy is imported before it is needed: the headless path never loads Textual, and the TUI
never imports torch. The worker is started first, so that it imports torch and builds the model
while this process imports Textual and draws the first frame (on two cores the two overlap).
Input that can be refused without a worker is refused here, in one line, before any UI opens.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from engine import EngineError
from engine.cli import (
    check_args,
    connect_from_args,
    fail,
    parse_args,
    print_in_background,
    run_command,
    run_headless,
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":  # the app in browsers, each tab its own process of this
        from tui.serve import serve

        return serve(args.host, args.port)
    if (code := run_command(args)) is not None:  # runs, stop, export, cache, report: no UI
        return code
    try:
        initial = check_args(args)
    except EngineError as error:
        return fail(str(error))
    if args.headless or getattr(args, "detach", False):
        return run_headless(args)
    return run_tui(args, initial)


class EarlyConnection:
    """Connects in a thread from the moment it is made; calling it waits for the client.

    `release` closes the client once the app has ended. By then the app has let go of every
    client it received (closed, detached or shut down, each making a second close a no-op), so
    this only stops one it never received: the user quit while it connected. Quitting early
    leaves no process behind.
    """

    def __init__(self, connect: Callable[[], object]) -> None:
        self._client: object | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(connect,), daemon=True)
        self._thread.start()

    def _run(self, connect: Callable[[], object]) -> None:
        try:
            self._client = connect()
        except BaseException as error:  # noqa: BLE001 - raised again where the app asks
            self._error = error

    def __call__(self) -> object:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._client

    def release(self) -> None:
        self._thread.join()
        if self._client is not None:
            self._client.close()


def run_tui(args, initial) -> int:
    early = EarlyConnection(lambda: connect_from_args(args))  # before Textual is imported
    from engine import EngineClient
    from tui.app import run_app

    clients = []  # every client the app used; the last is the run on screen when it quit

    def connect():
        clients.append(early())
        return clients[-1]

    def start_new(config):
        clients.append(EngineClient.start(config))
        return clients[-1]

    compare = getattr(args, "compare", None) or []
    try:
        code = run_app(
            connect,
            start_new=start_new,
            initial_config=initial,
            tour=args.tour,
            compare=compare,
            replay=args.command == "replay",
        )
    finally:
        early.release()
        for client in clients:  # runs the app started; those it let go of are already closed
            client.close()
    if clients and _still_training(clients[-1].run_dir):
        print_in_background(clients[-1].run_dir, "{run_dir} keeps training in the background")
    return code


def _still_training(run_dir: Path) -> bool:
    """Whether a worker still trains the run (detached on quit, or another client's run)."""
    from engine import summarize_run, worker_alive

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
