"""The real headless path against the plain loops: `python -m bench.engine --only headless`.

The in-process training bench (bench_training) times the engine's steps inside one Python process;
a user runs a command. This times exactly that command, `llmlearns-tui --headless --preset P`, as a
whole process (the CPU policy, the token map, the events written, the progress printed, the evals
and kept weights along the way), against the two baselines run as whole processes of their own on
the same corpus and model: (a) the teaching demo's architecture for `seed`, (b) the plain eager
nanoGPT-style loop for `char-small` (bench/engine/baselines.py). Each side runs a long and a short
run and the rate is their difference (steps ÷ seconds), so start-up cancels; the sides alternate
round by round, so a noisy machine slows both alike; figures are medians over rounds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT, corpus_for
from engine.process.cpu_policy import OVERRIDE

# (short, long) steps per preset: long enough that the difference dwarfs start-up's jitter, and
# both past warm-up and the first evals, so the difference holds evals in the ratio a run has.
STEPS = {"seed": (300, 1500), "char-small": (100, 500)}
BASELINE = {"seed": "demo", "char-small": "nanogpt"}

# One baseline run: the preset's model shape and batch on the same corpus, tokenized the same way,
# trained by the baseline's own loop for N steps. Its torch keeps its defaults (threads, OpenMP):
# a plain script's.
PLAIN = """
import dataclasses, sys
import torch
from engine.contract.config import preset
from engine.data.dataset import load_dataset
from bench.engine.baselines import demo_step_fn, nanogpt_step_fn
name, which, steps, corpus = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
torch.manual_seed(1337)
config = preset(name)
data = dataclasses.replace(config.data, corpus=corpus)
tokenizer, dataset, _ = load_dataset(data, config.model.block_size)
model = dataclasses.replace(config.model, vocab_size=tokenizer.vocab_size)
make = demo_step_fn if which == "demo" else nanogpt_step_fn
step = make(model, dataset.train.long(), config.train.batch_size, config.train.lr)
for _ in range(steps):
    step()
"""


def _wall_s(command: list[str], cwd: Path, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def _engine(preset: str, steps: int, corpus: Path, tmp: Path, policy: str | None) -> float:
    run_dir = tmp / f"run-{preset}-{steps}-{time.monotonic_ns()}"
    command = [sys.executable, "-m", "tui.cli", "--headless", "--preset", preset]
    command += ["--corpus", str(corpus), "--steps", str(steps), "--run-dir", str(run_dir)]
    env = {k: v for k, v in os.environ.items() if k != OVERRIDE}
    if policy is not None:
        env[OVERRIDE] = policy
    return _wall_s(command, ROOT, env)


def _plain(preset: str, steps: int, corpus: Path, tmp: Path, policy: str | None) -> float:
    command = [sys.executable, "-c", PLAIN, preset, BASELINE[preset], str(steps), str(corpus)]
    return _wall_s(command, ROOT)


def bench_headless(
    rounds: int = 3,
    presets: tuple[str, ...] = ("char-small", "seed"),
    policies: tuple[str | None, ...] = (None,),
) -> dict:
    """`policies`: worker CPU policies to time the engine under (LLMLEARNS_CPU_POLICY), each
    alternated with the others and the baseline; None is the chosen one."""
    result: dict = {"rounds": rounds}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for preset in presets:
            corpus = corpus_for(preset)
            short, long = STEPS[preset]
            sides = [(policy or "engine", _engine, policy) for policy in policies]
            sides.append(("baseline", _plain, None))
            rates: dict[str, list[float]] = {name: [] for name, _, _ in sides}
            for _ in range(rounds):
                for name, run, policy in sides:
                    seconds = run(preset, long, corpus, tmp, policy)
                    seconds -= run(preset, short, corpus, tmp, policy)
                    rates[name].append((long - short) / seconds)
            baseline = statistics.median(rates["baseline"])
            figures: dict = {
                "corpus": corpus.name,
                f"{BASELINE[preset]}_steps_per_s": round(baseline, 2),
            }
            for name, _, _ in sides[:-1]:
                engine = statistics.median(rates[name])
                figures[name] = {
                    "steps_per_s": round(engine, 2),
                    f"vs_{BASELINE[preset]}": round(engine / baseline, 2),
                    "pair_ratios": [
                        round(e / b, 2) for e, b in zip(rates[name], rates["baseline"], strict=True)
                    ],
                }
            result[preset] = figures
    return result
