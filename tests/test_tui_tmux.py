"""Issue 20's case as a person meets it, in a real terminal (tmux): a run started with a prompt and
a probe that hold escape sequences leaves the terminal's title and screen as they were, after
every view is visited and the prompt is generated from."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import worker_alive

TMUX = shutil.which("tmux")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed: this test reads its pane"),
]
ROOT = Path(__file__).resolve().parent.parent
PROMPT = "\x1b[2J\x1b]0;PWNED\x07oh"  # the issue's: clear the screen, set the title (BEL)
PROBE = "oh\x1b]2;OWNED\x1b\\ my love"  # the title again, ended by ST
TITLE = "before llm-learns"


class Pane:
    """One tmux server of its own (its socket in a temp folder) with one pane."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        command = [TMUX, "-S", str(self.socket), "-f", "/dev/null", *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def show(self, what: str) -> str:
        return self.tmux("display-message", "-p", "-t", "t", what).strip()

    def exited(self) -> bool:
        """Whether the pane's program has ended, as tmux reports it. Debian's tmux (3.3, built with
        libutempter) can miss the SIGCHLD of a pane's program and leave it a zombie with the pane
        never dead (tmux issues 311 and 4559): a SIGCHLD of our own makes the server reap it."""
        os.kill(int(self.show("#{pid}")), signal.SIGCHLD)
        return self.show("#{pane_dead_status}") != ""

    def lines(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", "t").splitlines()

    def wait(self, until, what: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                screen = "\n".join(self.lines())
                raise AssertionError(f"waited {timeout:.0f} s for {what}; the pane:\n{screen}")
            time.sleep(0.2)


def test_a_hostile_prompt_leaves_the_terminal_title_and_screen_alone(corpus, tmp_path):
    run_dir = tmp_path / "run"
    args = [
        "train",
        *("--corpus", str(corpus), "--run-dir", str(run_dir), "--device", "cpu"),
        *("--block-size", "16", "--n-layer", "2", "--n-head", "2", "--n-embd", "32"),
        *("--steps", "60", "--batch-size", "8", "--eval-every", "20", "--eval-batches", "2"),
        *("--prompt", PROMPT, "--probe", PROBE),
    ]
    # A launcher file rather than a shell line: the arguments hold bytes a shell would mangle. A
    # tmux server started without a terminal gives its panes COLUMNS=80 and LINES=24, which
    # Textual would take over the pane's real size.
    launcher = tmp_path / "launch.py"
    launcher.write_text(
        "import os, sys\n"
        "os.environ.pop('COLUMNS', None), os.environ.pop('LINES', None)\n"
        "from tui.cli import entry\n"
        f"sys.argv = ['llmlearns-tui', *{args!r}]\n"
        "sys.exit(entry())\n",
        encoding="utf-8",
    )
    pane = Pane(tmp_path / "tmux.sock")
    command = shlex.join([sys.executable, str(launcher)])
    pane.tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", "-c", str(ROOT), command)
    try:
        pane.tmux("set-option", "-t", "t", "remain-on-exit", "on")
        pane.tmux("select-pane", "-t", "t", "-T", TITLE)

        def header() -> str:
            lines = pane.lines()
            return lines[0] if lines else ""

        pane.wait(lambda: "finished" in header(), "the run to finish")
        for key in "234513":
            pane.tmux("send-keys", "-t", "t", key)
            time.sleep(1.0)  # the view's requests come back
            assert pane.show("#{pane_title}") == TITLE, f"view {key} set the title"
            assert header().startswith(" llm-learns"), f"view {key} cleared the header"
        for _ in range(2):  # the prompt takes the keyboard, then generates from the flag's text
            pane.tmux("send-keys", "-t", "t", "Enter")
            time.sleep(0.5)
        pane.wait(lambda: any("←/→ pick a step" in line for line in pane.lines()), "the generation")
        assert pane.show("#{pane_title}") == TITLE
        assert header().startswith(" llm-learns")
        assert any("␛[2J␛]0;PWNED␇oh" in line for line in pane.lines())  # shown, made visible
        pane.tmux("send-keys", "-t", "t", "q")
        # The exit status shows once the pane is dead (a moment after its dead flag).
        pane.wait(pane.exited, "the app to quit")
        assert pane.show("#{pane_dead_status}") == "0"
        assert pane.show("#{pane_title}") == TITLE
    finally:
        pane.tmux("kill-server")
    assert not worker_alive(run_dir)
