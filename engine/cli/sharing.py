"""The commands that take a run out of the terminal: `report` (one web page of a run, written
here) and `serve`'s flags (the app in a browser; tui/serve.py runs it, as it needs Textual)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.progress import PROG, one_line
from engine.contract.errors import EngineError

DEFAULT_PORT = 8000  # textual-serve's own
LOOPBACK = "127.0.0.1"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 1 and 65535")
    return port


def add_sharing_parsers(commands) -> None:
    report = commands.add_parser(
        "report",
        help="write a run as one web page: its figures, loss, samples, attention, learning",
        description="Write the run as one HTML file that opens offline in any browser (nothing "
        "is fetched): its settings and figures, the loss chart as the app draws it, the samples "
        "by step, the attention of each head at the stored snapshots, and the learning "
        "statistics. A run still training, or damaged, gives a report of what is there. Needs: "
        "pip install 'llm-learns[report]' (matplotlib).",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run to report on")
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE.html",
        help="where to write it (default: RUN_DIR/report.html)",
    )
    serve = commands.add_parser(
        "serve",
        help="the app in a web browser (textual-serve)",
        description="Serve the app to web browsers: each browser tab that opens the address "
        "runs the app, which trains in the runs folder here (attach to those runs from a "
        "terminal as to any other). Anyone who can reach the port can start trainings on this "
        "machine, so it listens on the loopback address unless told otherwise. Needs: pip "
        "install 'llm-learns[serve]'.",
    )
    serve.add_argument(
        "--host",
        default=LOOPBACK,
        help=f"the address to listen on (default: {LOOPBACK}, this machine only)",
    )
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"the port (default: {DEFAULT_PORT})"
    )


def report_command(args: argparse.Namespace) -> int:
    """`report RUN_DIR [-o FILE.html]`: the run as one web page."""
    from engine.report.page import write_report

    try:
        path = write_report(args.run_dir, args.output)
    except EngineError as error:
        print(f"{PROG}: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    size = path.stat().st_size
    print(f"wrote {one_line(str(path))} ({size / 1e6:.1f} MB): open it in any browser, offline")
    return 0
