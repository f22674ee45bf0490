"""The one tmux harness the live benchmarks share: sessions that run a command as a person would
type it, screen captures, and a control-mode client that times key presses to the screen."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable

from bench import ROOT

SIZE = (120, 40)


def tmux(*args: str) -> str:
    """Run one tmux command; its standard output."""
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, check=False, timeout=10
    ).stdout


class Session:
    """A detached tmux session of its own, running one command in the repository."""

    def __init__(self, name: str, size: tuple[int, int] = SIZE):
        self.name = name
        self.size = size

    def start(self, command: str) -> float:
        """Open the session with `command`; returns when it was typed (perf_counter)."""
        width, height = self.size
        for _ in range(5):  # a new session can be lost to a server the last one's end shut down
            started = time.perf_counter()
            tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                 "-c", str(ROOT), command)  # fmt: skip
            if self.is_open():
                return started
            time.sleep(0.5)
        raise RuntimeError("tmux would not open a session")

    def is_open(self) -> bool:
        answer = subprocess.run(["tmux", "has-session", "-t", self.name], capture_output=True)
        return answer.returncode == 0

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.name)

    def send(self, *keys: str) -> None:
        tmux("send-keys", "-t", self.name, *keys)

    def wait_for(self, ready: Callable[[str], bool], timeout: float, poll: float = 0.01) -> float:
        """Poll the screen until `ready(screen)`; returns when it was seen (perf_counter)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if ready(self.screen()):
                return time.perf_counter()
            time.sleep(poll)
        raise RuntimeError(f"{self.name}: the screen did not get there within {timeout:.0f} s")

    def end(self, quit_key: str | None = "q", grace_s: float = 3.0) -> None:
        """Quit the app (its worker writes its last files as it exits), then close the session."""
        if quit_key and self.is_open():
            self.send(quit_key)
            time.sleep(grace_s)
        tmux("kill-session", "-t", self.name)


class TmuxControl:
    """A tmux control-mode client: commands go over one pipe, and each `%output` notification is
    stamped the moment it arrives. Timing a key press needs no polling, so the instrument costs
    no CPU while the app under test draws: a capture-pane runs only after the app has written.
    """

    def __init__(self, session: str):
        self.session = session
        self.process = subprocess.Popen(
            ["tmux", "-C", "attach-session", "-t", session],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            errors="replace",  # %output escapes bytes, and can split a character between lines
        )  # fmt: skip
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put((time.perf_counter(), line.rstrip("\n")))

    def command(self, text: str) -> tuple[list[str], float | None]:
        """Run a tmux command: its output lines, and when the app last wrote before it answered."""
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        reply: list[str] | None = None
        last_output = None
        while True:
            stamp, line = self.lines.get(timeout=10)
            if line.startswith("%output"):
                last_output = stamp
            elif line.startswith("%begin") and line.endswith(" 1"):  # 1: a command of ours
                reply = []
            elif line.startswith(("%end", "%error")) and reply is not None:
                return reply, last_output
            elif reply is not None:
                reply.append(line)

    def screen(self) -> str:
        return "\n".join(self.command(f"capture-pane -p -t {self.session}")[0])

    def send(self, key: str) -> None:
        self.command(f"send-keys -t {self.session} {key}")

    def wait_for(self, ready: Callable[[str], bool], timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready(self.screen()):
                return True
            time.sleep(0.2)
        return False

    def press_until(self, key: str, changed: Callable[[str], bool]) -> float:
        """Milliseconds from sending `key` to the app's write that put `changed` on screen."""
        self.drain()
        pressed = time.perf_counter()
        self.send(key)
        deadline = pressed + 5
        while time.perf_counter() < deadline:
            try:
                stamp, line = self.lines.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                break
            if not line.startswith("%output"):
                continue
            lines, later = self.command(f"capture-pane -p -t {self.session}")
            if changed("\n".join(lines)):
                return ((later or stamp) - pressed) * 1000
        return (time.perf_counter() - pressed) * 1000

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
