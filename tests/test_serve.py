"""`serve`: the app in a web browser through textual-serve, end to end on a free loopback port:
the page (which loads only the server's own files), a browser session that trains into the runs
folder and can be attached from a terminal, and the refusals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PATIENCE_S, as_a_terminal_job
from tui.cli import main as tui_main

pytest.importorskip("textual_serve", reason="serve needs the serve extra (textual-serve)")

ROOT = Path(__file__).resolve().parent.parent
ADDRESS = re.compile(r"(?i)\b(?:https?|wss?|ftp)://|(?<![\w/])//[\w-]+\.[\w.-]+|\bwww\.")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "serve", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}  # the app's processes find this checkout


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


@pytest.fixture
def server(tmp_path):
    """`serve` on a free loopback port, in a folder of its own; (port, process). Ctrl-C ends it."""
    port = free_port()
    process = subprocess.Popen(
        serve_command("--port", str(port)),
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_a_terminal_job,
    )
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        try:
            get(f"http://127.0.0.1:{port}/")
            break
        except OSError:
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
    yield port, process
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=PATIENCE_S)
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_answers_with_the_page_and_the_page_loads_only_the_servers_files(server, tmp_path):
    port, process = server
    status, body = get(f"http://127.0.0.1:{port}/")
    page = body.decode()
    assert status == 200 and "<title>llm-learns</title>" in page
    assert 'class="textual-terminal"' in page and "static/js/textual.js" in page
    assert ADDRESS.search(page) is None and "googleapis" not in page
    refs = re.findall(r'(?:href|src)="([^"]*)"|url\("([^"]*)"\)', page)
    refs = [a or b for a, b in refs]
    assert refs and all(ref.startswith(("static/", "data:")) for ref in refs), refs
    for ref in refs:
        if ref.startswith("static/"):
            assert get(f"http://127.0.0.1:{port}/{ref}")[0] == 200, ref
    # textual-serve's own files name no address they would fetch (only licences in comments).
    _, css = get(f"http://127.0.0.1:{port}/static/css/xterm.css")
    assert "url(" not in css.decode()
    _, script = get(f"http://127.0.0.1:{port}/static/js/textual.js")
    assert ADDRESS.search(script.decode("utf-8", "replace")) is None
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=PATIENCE_S)
    assert out.splitlines()[0] == (
        f"serving llm-learns at http://127.0.0.1:{port} (Ctrl+C to stop); runs go to "
        f"{tmp_path / 'runs'}"
    )
    assert process.returncode == 0


@pytest.mark.slow
async def test_a_browser_session_trains_in_the_runs_folder_and_a_terminal_attaches(
    server, tmp_path
):
    import aiohttp

    from engine import EngineClient, HistoryReplayed, summarize_run, worker_alive

    port, _ = server
    url = f"ws://127.0.0.1:{port}/ws?width=120&height=40"
    screen = b""
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as browser:
        deadline = time.monotonic() + PATIENCE_S
        runs: list[Path] = []
        while time.monotonic() < deadline and not (runs and worker_alive(runs[0])):
            try:
                message = await browser.receive(timeout=0.5)
                if message.type == aiohttp.WSMsgType.BINARY:
                    screen += message.data
            except TimeoutError:
                pass
            runs = sorted((tmp_path / "runs").glob("seed-*"))
        assert b"llm-learns" in screen  # the app drew itself in the "browser"
        (run,) = runs
        # A terminal attaches to the browser's run like any other.
        client = EngineClient.attach(run)
        try:
            for event in client.events():
                if isinstance(event, HistoryReplayed):
                    break
        finally:
            client.close()
        assert worker_alive(run)
    # The tab closed: its app quits and stops the run it started, keeping a checkpoint.
    deadline = time.monotonic() + PATIENCE_S
    while worker_alive(run) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not worker_alive(run)
    assert summarize_run(run).state.ended


def test_a_port_in_use_is_refused_in_one_line_with_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            serve_command("--port", str(port)),
            cwd=tmp_path,
            env=env(),
            capture_output=True,
            text=True,
            timeout=PATIENCE_S,
        )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"llmlearns-tui: error: port {port} on 127.0.0.1 is in use: give another with --port N\n"
    )


@pytest.mark.parametrize(
    ("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False), ("localhost", False)]
)
def test_any_host_but_loopback_is_served_with_a_one_line_warning(monkeypatch, capsys, host, warned):
    from textual_serve.server import Server

    served = []
    monkeypatch.setattr(Server, "serve", lambda self, debug=False: served.append(self))
    assert tui_main(["serve", "--host", host, "--port", str(free_port())]) == 0
    (server,) = served
    assert server.host == host and server.command.endswith("-m tui.cli")
    err = capsys.readouterr().err
    if warned:
        assert err == (
            f"warning: {host} is not the loopback address: anyone who can reach port "
            f"{server.port} can start trainings on this machine\n"
        )
    else:
        assert err == ""


def test_an_unknown_host_is_one_line(capsys):
    assert tui_main(["serve", "--host", "no-such-host.invalid", "--port", "8000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmlearns-tui: error: cannot serve on no-such-host.invalid:")
    assert len(err.splitlines()) == 1


def test_a_bad_port_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        tui_main(["serve", "--port", "70000"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "llmlearns-tui serve: error: argument --port: port 70000 is not between 1 and 65535\n"
    )


def test_without_textual_serve_it_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # import raises ImportError
    assert tui_main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'llm-learns[serve]'" in err and len(err.splitlines()) == 1
