"""Live TUI benchmark, in tmux as a person would see it: `python -m tui.bench_live`.

Prints JSON: char-small training tokens/s with the TUI open against --headless (alternating runs,
same steps), and key-press-to-screen latency while training: keys are pressed through a tmux
control-mode client and timed to the app's write that put the change on screen. The keys: view
switches (1/2), and moving the attention view's query cursor (Down/Up), which changes part of a
view. `--only inside` times the Inside view instead (tui/bench/inside.py); a run without --only
does every part. Needs tmux on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from engine.bench import corpus_for

ROOT = Path(__file__).resolve().parent.parent
STEPS = 300
ROUNDS = 5  # alternating headless and TUI runs: this machine drifts by a third between runs
SESSION = f"llmlearns-bench-{os.getpid()}"  # helpers may bench side by side
# What each view shows that the others don't: a key press has landed when this is on screen.
VIEW_MARKERS = {"2": "layer 1/", "1": "Stats"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "--preset", "char-small",
            "--corpus", str(corpus_for("char-small")), "--steps", str(STEPS),
            "--eval-every", "100000", *args]  # fmt: skip


def _rates(run_dir: Path) -> list[float]:
    rates = []
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["kind"] == "step" and event["step"] > 20:  # past warm-up
            rates.append(event["tokens_per_s"])
    return rates


def headless_run(run_dir: Path) -> float:
    subprocess.run(_cli("--headless", "--run-dir", str(run_dir)), cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    return statistics.median(_rates(run_dir))


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def _steps_done(run_dir: Path) -> int:
    path = run_dir / "events.jsonl"
    return path.read_text().count('"kind":"step"') if path.exists() else 0


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
        for line in self.process.stdout:
            self.lines.put((time.perf_counter(), line.rstrip("\n")))

    def command(self, text: str) -> tuple[list[str], float | None]:
        """Run a tmux command: its output lines, and when the app last wrote before it answered."""
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

    def press_until(self, key: str, changed) -> float:
        """Milliseconds from sending `key` to the app's write that put `changed` on screen."""
        self.drain()
        pressed = time.perf_counter()
        self.command(f"send-keys -t {self.session} {key}")
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
        self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _looks_line(screen: str) -> str:
    return next((line for line in screen.splitlines() if "looks:" in line), "")


def press_keys(run_dir: Path, switches: list[float], cursor: list[float]) -> None:
    """Alternate view switches and cursor moves until the run is nearly done."""
    tmux = TmuxControl(SESSION)
    try:
        while _steps_done(run_dir) < STEPS - 10:
            for key in ("2", "1"):
                marker = VIEW_MARKERS[key]
                switches.append(tmux.press_until(key, lambda screen, m=marker: m in screen))
                time.sleep(0.4)
            tmux.command(f"send-keys -t {SESSION} 2")
            time.sleep(1.0)
            for key in ("Down", "Down", "Up", "Up"):
                before = _looks_line(tmux.screen())
                cursor.append(tmux.press_until(key, lambda s, b=before: _looks_line(s) != b))
                time.sleep(0.3)
            tmux.command(f"send-keys -t {SESSION} 1")
            time.sleep(0.5)
    finally:
        tmux.close()


def tui_run(run_dir: Path, latencies: tuple[list, list] | None) -> float:
    """Train in the TUI on the Train view; with `latencies`, also press keys and time them."""
    command = " ".join(_cli("--run-dir", str(run_dir)))
    _tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", "-c", str(ROOT), command)
    try:
        while _steps_done(run_dir) < 10:
            time.sleep(0.1)
        if latencies is not None:
            press_keys(run_dir, *latencies)
        while _steps_done(run_dir) < STEPS:
            time.sleep(0.1)
        return statistics.median(_rates(run_dir))
    finally:
        _tmux("send-keys", "-t", SESSION, "q")
        time.sleep(3)  # the finished run's worker writes its last files as it exits
        _tmux("kill-session", "-t", SESSION)


def _latency_figures(name: str, timings: list[float]) -> dict:
    ordered = sorted(timings)
    return {
        f"{name}_ms_median": round(statistics.median(ordered), 1),
        f"{name}_ms_p90": round(ordered[int(len(ordered) * 0.9)], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tui.bench_live", description=__doc__)
    parser.add_argument("--only", choices=["throughput", "keys", "inside"], help="run one part")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        sys.exit("tui.bench_live needs tmux")
    figures: dict = {"steps_per_run": STEPS}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        if args.only in (None, "throughput"):
            headless, tui = [], []
            for round_ in range(ROUNDS):
                headless.append(headless_run(Path(tmp) / f"headless-{round_}"))
                tui.append(tui_run(Path(tmp) / f"tui-{round_}", None))
            figures["headless_tokens_per_s"] = [round(r) for r in headless]
            figures["tui_tokens_per_s"] = [round(r) for r in tui]
            # Each TUI run against the headless run just before it: pairs close in time see the
            # same machine, so their median ratio stands up to drift better than medians do.
            pairs = [t / h for t, h in zip(tui, headless, strict=True)]
            figures["tui_vs_headless_pairs"] = [round(r, 3) for r in pairs]
            figures["tui_vs_headless"] = round(statistics.median(pairs), 3)
        if args.only in (None, "keys"):
            switches, cursor = [], []
            tui_run(Path(tmp) / "keys", (switches, cursor))
            figures |= _latency_figures("view_switch", switches)
            figures |= _latency_figures("cursor_key", cursor)
            figures["key_presses"] = len(switches) + len(cursor)
        if args.only in (None, "inside"):
            from tui.bench import inside  # it imports this module's tmux helpers

            figures |= inside.figures(Path(tmp), ROUNDS)
    print(json.dumps(figures, indent=2))
