"""The Inside view under live training, in tmux: `python -m bench.live --only inside`.

Two figures (issue 8): request-to-screen time of the Inside view while `seed` and `char-small`
train (goal ≤ 100 ms): ←/→ ask the engine for a trace at the next position, timed from the key to
the app's write that shows the new position; and char-small training tokens/s with the Inside view
open against the Train view (goal ≥ 0.97, median of pairs), with an eval every EVAL_EVERY steps so
that the open view refreshes its trace several times a run.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path

from bench import corpus_for, latency_figures, step_rates, steps_done
from bench.tmux import Session, TmuxControl

THROUGHPUT_STEPS = 300
EVAL_EVERY = 50  # six refreshes of the open view's trace per run (the presets eval every 250+)
PRESSES = 24  # per preset: position moves, half left and half right
POSITION = re.compile(r"position (\d+)/(\d+)")
SESSION = f"llmlearns-bench-inside-{os.getpid()}"


def _command(preset: str, run_dir: Path, steps: int, eval_every: int) -> str:
    return " ".join([sys.executable, "-m", "tui.cli", "--preset", preset,
                     "--corpus", str(corpus_for(preset)), "--steps", str(steps),
                     "--eval-every", str(eval_every), "--run-dir", str(run_dir)])  # fmt: skip


def _start(preset: str, run_dir: Path, steps: int, eval_every: int, wait_steps: int) -> Session:
    """Open the TUI training `preset` in a tmux session; return once `wait_steps` steps are done."""
    session = Session(SESSION)
    session.start(_command(preset, run_dir, steps, eval_every))
    deadline = time.monotonic() + 120
    while steps_done(run_dir) < wait_steps:
        if time.monotonic() > deadline:
            session.end()
            raise RuntimeError(f"{preset}: no training steps in {run_dir} after 120 s")
        time.sleep(0.05)
    return session


def _position(screen: str) -> tuple[int, int] | None:
    for line in screen.splitlines():
        if line.lstrip().startswith("step ") and (match := POSITION.search(line)):
            return int(match.group(1)), int(match.group(2))
    return None


def request_to_screen(preset: str, run_dir: Path) -> list[float]:
    """Milliseconds from ←/→ to the new position's trace on screen, while `preset` trains."""
    session = _start(preset, run_dir, steps=1_000_000, eval_every=1_000_000, wait_steps=10)
    timings: list[float] = []
    tmux = TmuxControl(SESSION)
    try:
        tmux.send("5")
        if not tmux.wait_for(lambda screen: _position(screen) is not None):
            raise RuntimeError(f"{preset}: the Inside view showed no trace")
        for i in range(PRESSES):
            position, count = _position(tmux.screen()) or (1, 1)
            if count < 2:
                raise RuntimeError(f"{preset}: a one-token probe has no position to move to")
            step = -1 if (i // 2) % 2 == 0 else 1  # back and forth, never past either end
            step = 1 if position == 1 else -1 if position == count else step
            wanted = f"position {position + step}/{count}"
            key = "Left" if step < 0 else "Right"
            timings.append(tmux.press_until(key, lambda screen, w=wanted: w in screen))
            time.sleep(0.3)
    finally:
        tmux.close()
        session.end()
    return timings


def training_rate(run_dir: Path, inside_open: bool) -> float:
    """char-small's median tokens/s in the TUI, on the Inside view or on the Train view."""
    session = _start("char-small", run_dir, THROUGHPUT_STEPS, EVAL_EVERY, wait_steps=1)
    try:
        if inside_open:
            session.send("5")
        while steps_done(run_dir) < THROUGHPUT_STEPS:
            if not session.is_open():
                raise RuntimeError(f"the TUI in {run_dir} ended before step {THROUGHPUT_STEPS}")
            time.sleep(0.2)
        return statistics.median(step_rates(run_dir))
    finally:
        session.end()


def figures(tmp: Path, rounds: int) -> dict:
    """Both figures, as JSON-ready values."""
    out: dict = {}
    for preset in ("seed", "char-small"):
        timings = request_to_screen(preset, tmp / f"inside-keys-{preset}")
        out |= latency_figures(f"inside_{preset.replace('-', '_')}", timings)
        print(preset, "ms:", [round(t) for t in timings], file=sys.stderr)  # progress
    closed, opened = [], []
    for round_ in range(rounds):
        closed.append(training_rate(tmp / f"inside-closed-{round_}", inside_open=False))
        opened.append(training_rate(tmp / f"inside-open-{round_}", inside_open=True))
        print("closed/open tokens/s:", round(closed[-1]), round(opened[-1]), file=sys.stderr)
    out["inside_closed_tokens_per_s"] = [round(r) for r in closed]
    out["inside_open_tokens_per_s"] = [round(r) for r in opened]
    pairs = [o / c for o, c in zip(opened, closed, strict=True)]
    out["inside_open_vs_closed_pairs"] = [round(r, 3) for r in pairs]
    out["inside_open_vs_closed"] = round(statistics.median(pairs), 3)
    return out
