"""TUI benchmark: `python -m bench.tui` prints JSON with the loss chart's redraw time at 120×40
on a 100,000-step history (goal ≤ 30 ms), the same history replayed (each replayed step's
redraw, and the views following the step: goal ≤ 30 ms too) and the app's time to first frame,
headless.

`python -m bench.tui.memory` measures the app's memory over a 1M-step stream (memory.py).
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import subprocess
import sys
import time

from bench import ROOT

STEPS = 100_000
REDRAWS = 9

FIRST_FRAME = """
import time
t0 = time.perf_counter()
import sys
from tui.app import LlmLearnsApp

class Idle:
    def events(self):
        return iter(())
    def close(self):
        pass

async def first_frame(pilot):
    print(time.perf_counter() - t0, "torch" in sys.modules)
    pilot.app.exit(0)

app = LlmLearnsApp(connect=Idle, defer_views=True)  # as the command line starts it
app.run(headless=True, size=(120, 40), auto_pilot=first_frame)
"""


async def chart_redraw_ms() -> dict:
    from tui.app import LlmLearnsApp
    from tui.widgets.train.loss_chart import LossChart

    app = LlmLearnsApp()
    async with app.run_test(size=(120, 40)) as pilot:
        chart = app.query_one(LossChart)
        chart.vocab_size = 65
        chart.unigram, chart.bigram = 3.3, 2.5  # the landmarks a real run draws
        for step in range(1, STEPS + 1):
            chart.history.add_step(
                step, 1.5 + 2.7 * math.exp(-step / 5000) + 0.1 * math.sin(step), step * 768
            )
        for s in range(250, STEPS, 250):
            val = 1.6 + 2.6 * math.exp(-s / 5000)
            chart.history.add_eval(s, val + 0.01 * math.sin(s / 7000), val - 0.1)
        await pilot.pause()
        times = []
        for i in range(REDRAWS):
            chart.log_y = i % 2 == 1  # alternate, so no redraw is a kept repeat
            start = time.perf_counter()
            chart.kept_lines()  # plotext's drawing and its conversion to screen lines
            times.append((time.perf_counter() - start) * 1000)
        return {
            "chart_redraw_ms_median": round(statistics.median(times), 2),
            "chart_redraw_ms_max": round(max(times), 2),
            "chart_size": [chart.size.width, chart.size.height],
            "history_steps": STEPS,
            "history_points_kept": len(chart.history),  # older steps are merged (loss_history)
        }


async def replay_redraw_ms() -> dict:
    """A 100,000-step history fed through the app as a run's events, then replayed: each move of
    the replay clock (every view follows it) and the chart's redraw at that step, against the
    live chart's redraw in the same app."""
    from bench.tui.memory import BATCH, events
    from tui.app import LlmLearnsApp
    from tui.messages import EventsReceived
    from tui.widgets.train.loss_chart import LossChart

    app = LlmLearnsApp()
    async with app.run_test(size=(120, 40)) as pilot:
        batch: list = []
        for event in events(STEPS):
            batch.append(event)
            if len(batch) >= BATCH:
                app.post_message(EventsReceived(None, batch))  # no client: the app has none
                batch = []
                await pilot.pause()
        app.post_message(EventsReceived(None, batch))
        await pilot.pause()
        chart = app.query_one(LossChart)
        live = []
        for i in range(REDRAWS):
            chart.log_y = i % 2 == 1
            start = time.perf_counter()
            chart.kept_lines()
            live.append((time.perf_counter() - start) * 1000)
        chart.log_y = False
        app.action_replay()
        app.replay.toggle()  # paused: each step below is one move, as ←/→ or a click make
        moves, redraws = [], []
        for i in range(1, REDRAWS + 1):
            step = STEPS * i // (REDRAWS + 1) + 7  # between evals, as a playing replay lands
            start = time.perf_counter()
            app.replay.seek(step)  # every view follows (the chart only marks itself dirty)
            moved = time.perf_counter()
            chart.kept_lines()  # the redraw of the history up to that step
            redraws.append((time.perf_counter() - moved) * 1000)
            moves.append((moved - start) * 1000)
            await pilot.pause()
            assert chart.drawn_last is not None and chart.drawn_last[0] <= step, (
                chart.drawn_last,
                step,
                app.replay.step,
                chart.until,
                len(chart.history),
            )
        return {
            "live_redraw_ms_median": round(statistics.median(live), 2),
            "replay_redraw_ms_median": round(statistics.median(redraws), 2),
            "replay_redraw_ms_max": round(max(redraws), 2),
            "replay_views_follow_ms_median": round(statistics.median(moves), 2),
            "replay_views_follow_ms_max": round(max(moves), 2),
            "replay_steps": STEPS,
            "replay_chart_points_kept": len(chart.history),
        }


def first_frame_ms(runs: int = 3) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", FIRST_FRAME],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": str(ROOT), "PATH": ""},
        )
        seconds, torch = out.stdout.split()
        results.append((float(seconds) * 1000, torch == "True"))
    return {
        "first_frame_ms_median": round(statistics.median(r[0] for r in results), 1),
        "torch_imported_at_first_frame": any(r[1] for r in results),
    }


def main() -> None:
    report = asyncio.run(chart_redraw_ms())
    report.update(asyncio.run(replay_redraw_ms()))
    report.update(first_frame_ms())
    print(json.dumps(report, indent=2))
