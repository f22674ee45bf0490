"""Live TUI benchmark, in tmux as a person would see it: `python -m bench.live`.

Prints JSON: char-small training tokens/s with the TUI open against --headless (alternating runs,
same steps), and key-press-to-screen latency while training: keys are pressed through a tmux
control-mode client and timed to the app's write that put the change on screen. The keys: view
switches (1/2), and moving the attention view's query cursor (Down/Up), which changes part of a
view. `--only inside` times the Inside view instead (bench/inside.py), `--only history` view keys
while a 1,000,000-step history loads (bench/history_keys.py); a run without --only does every
part. Needs tmux on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT, corpus_for, history_keys, inside, latency_figures, step_rates, steps_done
from bench.tmux import Session, TmuxControl

STEPS = 300
ROUNDS = 5  # alternating headless and TUI runs: this machine drifts by a third between runs
SESSION = f"llmlearns-bench-{os.getpid()}"  # helpers may bench side by side
# What each view shows that the others don't: a key press has landed when this is on screen.
VIEW_MARKERS = {"2": "layer 1/", "1": "Stats"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", "--preset", "char-small",
            "--corpus", str(corpus_for("char-small")), "--steps", str(STEPS),
            "--eval-every", "100000", *args]  # fmt: skip


def headless_run(run_dir: Path) -> float:
    subprocess.run(_cli("--headless", "--run-dir", str(run_dir)), cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    return statistics.median(step_rates(run_dir))


def _looks_line(screen: str) -> str:
    return next((line for line in screen.splitlines() if "looks:" in line), "")


def press_keys(run_dir: Path, switches: list[float], cursor: list[float]) -> None:
    """Alternate view switches and cursor moves until the run is nearly done."""
    tmux = TmuxControl(SESSION)
    try:
        while steps_done(run_dir) < STEPS - 10:
            for key in ("2", "1"):
                marker = VIEW_MARKERS[key]
                switches.append(tmux.press_until(key, lambda screen, m=marker: m in screen))
                time.sleep(0.4)
            tmux.send("2")
            time.sleep(1.0)
            for key in ("Down", "Down", "Up", "Up"):
                before = _looks_line(tmux.screen())
                cursor.append(tmux.press_until(key, lambda s, b=before: _looks_line(s) != b))
                time.sleep(0.3)
            tmux.send("1")
            time.sleep(0.5)
    finally:
        tmux.close()


def tui_run(run_dir: Path, latencies: tuple[list, list] | None) -> float:
    """Train in the TUI on the Train view; with `latencies`, also press keys and time them."""
    session = Session(SESSION)
    session.start(" ".join(_cli("--run-dir", str(run_dir))))
    try:
        while steps_done(run_dir) < 10:
            time.sleep(0.1)
        if latencies is not None:
            press_keys(run_dir, *latencies)
        while steps_done(run_dir) < STEPS:
            time.sleep(0.1)
        return statistics.median(step_rates(run_dir))
    finally:
        session.end()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__)
    parts = ["throughput", "keys", "inside", "history"]
    parser.add_argument("--only", choices=parts, help="run one part")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        sys.exit("bench.live needs tmux")
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
            figures |= latency_figures("view_switch", switches)
            figures |= latency_figures("cursor_key", cursor)
            figures["key_presses"] = len(switches) + len(cursor)
        if args.only in (None, "inside"):
            figures |= inside.figures(Path(tmp), ROUNDS)
        if args.only in (None, "history"):
            figures |= history_keys.figures(Path(tmp))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
