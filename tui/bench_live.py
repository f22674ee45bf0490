"""Live TUI benchmark, in tmux as a person would see it: `python -m tui.bench_live`.

Prints JSON: char-small training tokens/s with the TUI open against --headless (alternating runs,
same steps), and key-press-to-screen latency while training, pressed with tmux send-keys and timed
until capture-pane shows the change: view switches (1/2), and moving the attention view's query
cursor (Down/Up), a key that changes part of a view. Needs tmux on PATH.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.bench import corpus_for

ROOT = Path(__file__).resolve().parent.parent
STEPS = 300
SESSION = "llmlearns-bench"
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


def _press_until_changed(key: str, changed) -> float:
    pressed = time.perf_counter()
    _tmux("send-keys", "-t", SESSION, key)
    while not changed(_tmux("capture-pane", "-p", "-t", SESSION)):
        if time.perf_counter() - pressed > 5:
            break
    return (time.perf_counter() - pressed) * 1000


def _looks_line(screen: str) -> str:
    return next((line for line in screen.splitlines() if "looks:" in line), "")


def press_keys(run_dir: Path, switches: list[float], cursor: list[float]) -> None:
    """Alternate view switches and cursor moves until the run is nearly done."""
    while _steps_done(run_dir) < STEPS - 10:
        for key in ("2", "1"):
            marker = VIEW_MARKERS[key]
            switches.append(_press_until_changed(key, lambda screen, m=marker: m in screen))
            time.sleep(0.4)
        _tmux("send-keys", "-t", SESSION, "2")
        time.sleep(1.0)
        for key in ("Down", "Down", "Up", "Up"):
            before = _looks_line(_tmux("capture-pane", "-p", "-t", SESSION))
            cursor.append(_press_until_changed(key, lambda s, b=before: _looks_line(s) != b))
            time.sleep(0.3)
        _tmux("send-keys", "-t", SESSION, "1")
        time.sleep(0.5)


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


def main() -> None:
    if not shutil.which("tmux"):
        sys.exit("tui.bench_live needs tmux")
    headless, tui, switches, cursor = [], [], [], []
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        for round_ in range(2):
            headless.append(headless_run(Path(tmp) / f"headless-{round_}"))
            tui.append(tui_run(Path(tmp) / f"tui-{round_}", None))
        tui_run(Path(tmp) / "keys", (switches, cursor))
    print(json.dumps({
        "steps_per_run": STEPS,
        "headless_tokens_per_s": [round(r) for r in headless],
        "tui_tokens_per_s": [round(r) for r in tui],
        "tui_vs_headless": round(statistics.median(tui) / statistics.median(headless), 3),
        "view_switch_ms_median": round(statistics.median(switches), 1),
        "view_switch_ms_p90": round(sorted(switches)[int(len(switches) * 0.9)], 1),
        "cursor_key_ms_median": round(statistics.median(cursor), 1),
        "cursor_key_ms_p90": round(sorted(cursor)[int(len(cursor) * 0.9)], 1),
        "key_presses": len(switches) + len(cursor),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
