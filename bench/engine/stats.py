"""What training statistics cost: `python -m bench.engine --only stats`.

The same preset trained in one process by two trainers, one with statistics at its default
cadence and one without, in alternating chunks of steps (whole multiples of stats_every, each
holding the same number of measured steps); tokens/s of each chunk, and the ratio of each pair.
The median of the pairs is the figure (goal: >= 0.97 on seed and char-small). Also per step: the
median time of the steps between measured ones against the run without statistics (they should
cost nothing), and what one measured step costs, in plain steps.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.engine import config_for
from engine.contract.config import PRESETS
from engine.contract.events import StepCompleted
from engine.training.trainer import Trainer


def bench_stats(preset: str, rounds: int, chunks_of: int = 2) -> dict:
    """Tokens/s with statistics (every default stats_every) and without, alternated."""
    every = PRESETS[preset].train.stats_every
    steps = every * chunks_of
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {
            name: Trainer.create(
                config_for(preset, max_steps=10**9, eval_every=10**9, stats_every=cadence),
                Path(tmp) / name,
            )
            for name, cadence in (("on", every), ("off", 0))
        }
        streams = {name: trainer.events() for name, trainer in trainers.items()}
        times: dict[str, list[float]] = {"on": [], "off": []}
        step_times: dict[str, list[float]] = {"on": [], "off": []}

        def chunk(name: str, count: int) -> float:
            """Train `count` steps; the seconds they took, and each step's (from the step event
            before it to its own: a measured step's statistics are read after its event, so
            their reading lands in the step after it)."""
            done, started = 0, time.perf_counter()
            last = started
            while done < count:
                if isinstance(next(streams[name]), StepCompleted):
                    now = time.perf_counter()
                    step_times[name].append(now - last)
                    last, done = now, done + 1
            return time.perf_counter() - started

        for name in times:  # warm up: allocations, kernels, the first measured step
            chunk(name, every)
        for name in step_times:
            step_times[name].clear()
        pairs = []
        for r in range(rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            seconds = {name: chunk(name, steps) for name in order}
            for name, value in seconds.items():
                times[name].append(value)
            pairs.append(seconds["off"] / seconds["on"])  # on's tokens/s over off's
        for trainer in trainers.values():
            trainer.close()
    train, model = trainers["on"].config.train, trainers["on"].config.model
    tokens = steps * train.batch_size * model.block_size
    # Steps are numbered from 1 after the warm-up's `every`: step k of a chunk is measured when
    # k % every == 0, and the one after it reads the values.
    on = step_times["on"]
    between = [s for k, s in enumerate(on, start=1) if k % every not in (0, 1)]
    extra = [on[k - 1] + on[k] for k in range(every, len(on), every)]
    plain = statistics.median(step_times["off"])
    return {
        "preset": preset,
        "stats_every": every,
        "steps_per_chunk": steps,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "tokens_per_s_on": round(tokens / statistics.median(times["on"])),
        "tokens_per_s_off": round(tokens / statistics.median(times["off"])),
        "median_pair_ratio": round(statistics.median(pairs), 4),
        "pair_ratios": [round(p, 4) for p in pairs],
        "step_ms_between_measured": round(statistics.median(between) * 1000, 3),
        "step_ms_without_stats": round(plain * 1000, 3),
        # A measured step and the one after it, less two plain steps: in plain steps.
        "measured_step_costs_plain_steps": round(statistics.median(extra) / plain - 2, 2),
    }
