"""What training statistics cost: `python -m bench.engine --only stats`.

The same preset trained in one process by two trainers, one with statistics at its default
cadence and one without, in alternating chunks of steps (whole multiples of stats_every, each
holding the same number of measured steps); tokens/s of each chunk, and the ratio of each pair.
The median of the pairs is the figure (goal: >= 0.97 on seed and char-small). Each is given twice:
by the wall clock, and by this process's CPU time, which a shared machine's other load disturbs
far less (with several threads it counts their spinning too). Also per step, in CPU time: the
median of the steps between measured ones against the run without statistics (they should cost
nothing), and what one measured step costs, in plain steps.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.engine import config_for
from engine.contract.config import PRESETS
from engine.contract.events import StepCompleted
from engine.process import cpu_policy
from engine.training.trainer import Trainer

DEFAULT_THREADS = torch.get_num_threads()  # before any preset's policy changed it


def bench_stats(preset: str, rounds: int, chunks_of: int = 2) -> dict:
    """Tokens/s with statistics (every default stats_every) and without, alternated."""
    every = PRESETS[preset].train.stats_every
    steps = every * chunks_of
    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {
            name: Trainer.create(
                config_for(preset, max_steps=10**9, eval_every=10**9, stats_every=cadence),
                Path(tmp) / name,
            )
            for name, cadence in (("on", every), ("off", 0))
        }
        # The threads a worker would train this model with (seed: one); run the bench with the
        # worker's OpenMP setting too (cpu_policy.worker_env: GOMP_SPINCOUNT), read at start-up.
        torch.set_num_threads(DEFAULT_THREADS)
        cpu_policy.apply(cpu_policy.choose(trainers["on"].model.num_params()))
        streams = {name: trainer.events() for name, trainer in trainers.items()}
        seconds: dict[str, dict[str, list[float]]] = {c: {"on": [], "off": []} for c in clocks}
        step_cpu: dict[str, list[float]] = {"on": [], "off": []}

        def chunk(name: str, count: int) -> dict[str, float]:
            """Train `count` steps: the seconds they took by each clock. Each step's CPU time
            runs from the step event before it to its own (a measured step's statistics are
            read after its event, so their reading lands in the step after it)."""
            start = {c: clock() for c, clock in clocks.items()}
            last, done = start["cpu"], 0
            while done < count:
                if isinstance(next(streams[name]), StepCompleted):
                    now = time.process_time()
                    step_cpu[name].append(now - last)
                    last, done = now, done + 1
            return {c: clock() - start[c] for c, clock in clocks.items()}

        for name in streams:  # warm up: allocations, kernels, the first measured step
            chunk(name, every)
        for name in step_cpu:
            step_cpu[name].clear()
        pairs: dict[str, list[float]] = {c: [] for c in clocks}
        for r in range(rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            taken = {name: chunk(name, steps) for name in order}
            for c in clocks:
                for name in order:
                    seconds[c][name].append(taken[name][c])
                pairs[c].append(taken["off"][c] / taken["on"][c])  # on's tokens/s over off's
        for trainer in trainers.values():
            trainer.close()
    train, model = trainers["on"].config.train, trainers["on"].config.model
    tokens = steps * train.batch_size * model.block_size
    # Steps are numbered from 1 after the warm-up's `every`: step k of a chunk is measured when
    # k % every == 0, and the one after it reads the values.
    on = step_cpu["on"]
    between = [s for k, s in enumerate(on, start=1) if k % every not in (0, 1)]
    extra = [on[k - 1] + on[k] for k in range(every, len(on), every)]
    plain = statistics.median(step_cpu["off"])
    result: dict = {
        "preset": preset,
        "stats_every": every,
        "steps_per_chunk": steps,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "policy": cpu_policy.in_force(),
    }
    for c in clocks:
        result[c] = {
            "tokens_per_s_on": round(tokens / statistics.median(seconds[c]["on"])),
            "tokens_per_s_off": round(tokens / statistics.median(seconds[c]["off"])),
            "median_pair_ratio": round(statistics.median(pairs[c]), 4),
            "pair_ratios": [round(p, 4) for p in pairs[c]],
        }
    result |= {
        "cpu_step_ms_between_measured": round(statistics.median(between) * 1000, 3),
        "cpu_step_ms_without_stats": round(plain * 1000, 3),
        # A measured step and the one after it, less two plain steps: in plain steps.
        "measured_step_costs_plain_steps": round(statistics.median(extra) / plain - 2, 2),
    }
    return result
