"""TUI memory benchmark: `python -m bench.tui.memory [--steps N]` prints JSON with the app's RSS as
a long run's events stream in.

It feeds a fake tiny run (StepCompleted every step, an eval, a sample and a checkpoint every
EVAL_EVERY steps) through the app's own ingest path (EventsReceived batches, as the event reader
posts them) headlessly, and reports the resident memory before, along the way and after, with
the sizes of what the app keeps. A bounded app levels off; one that keeps every step grows.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import resource
import sys
import time
from pathlib import Path

from engine import CheckpointSaved, EvalCompleted, SampleGenerated, StepCompleted, TrainingStarted

STEPS = 1_000_000
BATCH = 2_000  # events per EventsReceived: a fast run's half second
EVAL_EVERY = 300


def rss_mib() -> float:
    """Resident memory now (Linux), else the peak so far."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def events(steps: int):
    yield TrainingStarted(
        run_dir="/tmp/bench-run", preset="seed", device="cpu", dtype="float32",
        tokenizer="word", vocab_size=50, n_params=12_345, n_layer=2, n_head=2, n_embd=32,
        block_size=6, batch_size=16, start_step=0, max_steps=steps, train_tokens=900,
        val_tokens=100, probe="oh my love",
    )  # fmt: skip
    for step in range(1, steps + 1):
        loss = 1.2 + 2.7 * math.exp(-step / 5000) + 0.1 * math.sin(step)
        yield StepCompleted(
            step=step, loss=loss, lr=1e-3, grad_norm=0.5, tokens_per_s=50_000.0,
            elapsed_s=step * 0.002, tokens_seen=step * 96,
        )  # fmt: skip
        if step % EVAL_EVERY == 0:
            yield EvalCompleted(step=step, train_loss=loss, val_loss=loss + 0.1)
            yield SampleGenerated(step=step, prompt="oh", text=f"oh sample at step {step}")
            yield CheckpointSaved(step=step, path="/tmp/bench-run/model.safetensors")


async def measure(steps: int) -> dict:
    from tui.app import LlmLearnsApp
    from tui.messages import EventsReceived
    from tui.widgets.train.loss_chart import LossChart
    from tui.widgets.train.sample_log import SampleLog

    app = LlmLearnsApp()
    report: dict = {"steps": steps}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gc.collect()
        report["rss_mib_before"] = round(rss_mib(), 1)
        along = []
        started = time.perf_counter()
        batch: list = []
        step, next_report = 0, 0
        for event in events(steps):
            batch.append(event)
            if isinstance(event, StepCompleted):
                step = event.step
            if len(batch) >= BATCH:
                app.post_message(EventsReceived(None, batch))  # no client: the app has none
                batch = []
                await pilot.pause()
                if step >= next_report:
                    next_report += max(1, steps // 10)
                    app.query_one(LossChart).kept_lines()  # a redraw at this size, as on screen
                    gc.collect()
                    along.append([step, round(rss_mib(), 1)])
                    print(f"step {step:,}: {along[-1][1]} MiB", file=sys.stderr, flush=True)
        if batch:
            app.post_message(EventsReceived(None, batch))  # no client: the app has none
        await pilot.pause()
        gc.collect()
        report["rss_mib_after"] = round(rss_mib(), 1)
        report["rss_mib_along"] = along
        report["seconds"] = round(time.perf_counter() - started, 1)
        chart = app.query_one(LossChart)
        report["chart_points_kept"] = len(chart.history)
        report["val_points_kept"] = len(chart.history.val)
        report["sample_widgets"] = len(app.query_one(SampleLog).children)
        app.exit(0)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tui.memory", description=__doc__)
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.steps)), indent=2))


if __name__ == "__main__":
    main()
