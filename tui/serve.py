"""`llmlearns-tui serve`: the app in a web browser, through textual-serve (the serve extra).

Each browser tab that opens the page gets an app process of its own, started with this Python
in this working directory: its runs land in the same runs folder as a terminal's, and a terminal
can attach to them. Anyone who reaches the port can start trainings, so the server listens on the
loopback address unless told otherwise, and says so when told.

The page is textual-serve's, in the version in tui/web/: the original fetches its font from a font
service; ours takes the font textual-serve ships, and names no address but its own files.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import shlex
import socket
import sys
from pathlib import Path

from engine.cli import fail

PAGE = Path(__file__).parent / "web"  # app_index.html
INSTALL_HINT = "pip install 'llm-learns[serve]'"


def loopback(host: str) -> bool:
    """Whether every address `host` names is this machine's loopback (127.0.0.0/8, ::1)."""
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    return all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses)


def check_port(host: str, port: int) -> None:
    """Bind the port as the server will (SO_REUSEADDR, as asyncio does), and let it go: a port
    in use, or one this user may not take, is refused here, before anything is printed."""
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)


def serve(host: str, port: int) -> int:
    """Serve the app until Ctrl-C; returns the exit code (2, in one line, if it cannot)."""
    try:
        from textual_serve.server import Server
    except ImportError:
        return fail(f"serving the app to a browser needs textual-serve: {INSTALL_HINT}")
    try:
        local = loopback(host)
        check_port(host, port)
    except socket.gaierror as error:
        return fail(f"cannot serve on {host}: {error.strerror}")
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return fail(f"port {port} on {host} is in use: give another with --port N")
        return fail(f"cannot serve on {host} port {port}: {error.strerror or error}")
    if not local:
        print(
            f"warning: {host} is not the loopback address: anyone who can reach port {port} "
            "can start trainings on this machine",
            file=sys.stderr,
        )
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

    class AppServer(Server):
        def initialize_logging(self) -> None:
            super().initialize_logging()
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # a line a request

        async def on_startup(self, app) -> None:
            # One line where textual-serve prints its banner.
            runs = Path.cwd() / "runs"
            print(f"serving llm-learns at {url} (Ctrl+C to stop); runs go to {runs}", flush=True)

    command = shlex.join([sys.executable, "-m", "tui.cli"])
    server = AppServer(command, host=host, port=port, title="llm-learns", templates_path=PAGE)
    try:
        server.serve()
    except OSError as error:  # the port taken in the instant since the check
        return fail(f"cannot serve on {host} port {port}: {error.strerror or error}")
    return 0
