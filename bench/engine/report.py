"""A long run's report: `python -m bench.engine --only report`.

A short real run of char-small's shape (4 layers of 4 heads, on the bundled corpus) gives the
files and the event formats; behind them, a made-up history of STEPS steps with an eval, a sample,
head scores and a time-lapse snapshot every EVAL_EVERY steps and training statistics every
STATS_EVERY, as char-small writes them. `llmlearns-tui report` is then run on it as a user would
(a fresh process each round, so matplotlib's import counts), and the figures are its wall and CPU
time (medians over rounds) and the file's size; goal: a few seconds and a few MB.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench import ROOT

STEPS = 100_000
EVAL_EVERY = 250  # char-small's
STATS_EVERY = 100  # the default


def short_run(base: Path) -> Path:
    """Two steps of char-small's shape with every eval's snapshot, on the bundled corpus."""
    from engine.contract.config import DEFAULT_CORPUS, PRESETS
    from engine.training.trainer import train

    config = PRESETS["char-small"]
    config = replace(
        config,
        data=replace(config.data, corpus=str(DEFAULT_CORPUS)),
        train=replace(
            config.train, max_steps=2, eval_every=1, eval_batches=1, stats_every=1, device="cpu"
        ),
    )
    run = base / "short"
    list(train(config, run))
    return run


def make_long_run(short: Path, run: Path, steps: int = STEPS) -> None:
    """`run`: the short run's files, with a made-up history of `steps` steps."""
    run.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        shutil.copy(short / name, run / name)
    lines = (short / "events.jsonl").read_text().splitlines()
    first = {
        kind: json.loads(next(x for x in lines if x.startswith(f'{{"kind":"{kind}"')))
        for kind in ("training_started", "stats", "heads_scored", "sample")
    }
    started = first["training_started"]
    started.update(max_steps=steps, run_dir=str(run))
    snapshots = run / "attention"
    snapshots.mkdir()
    source = {
        suffix: (short / "attention" / f"step-00000002.{suffix}").read_bytes()
        for suffix in ("attn", "lens", "map")
    }
    with (run / "events.jsonl").open("w") as file:
        write = file.write
        write(json.dumps(started, separators=(",", ":")) + "\n")
        for s in range(0, steps + 1):
            loss = 1.4 + 2.8 * math.exp(-s / (steps / 25)) + 0.08 * math.sin(s / 7)
            if s:
                write(
                    f'{{"kind":"step","step":{s},"loss":{loss!r},"lr":0.001,"grad_norm":0.5,'
                    f'"tokens_per_s":45000.0,"elapsed_s":{s * 0.021!r},"tokens_seen":{s * 768}'
                    "}\n"
                )
            if s % STATS_EVERY == 0 and s:
                stats = dict(first["stats"], step=s)
                write(json.dumps(stats, separators=(",", ":")) + "\n")
            if s % EVAL_EVERY == 0:
                val = loss + 0.05 + 0.1 * max(0.0, s / steps - 0.7)
                write(f'{{"kind":"eval","step":{s},"train_loss":{loss!r},"val_loss":{val!r}}}\n')
                write(json.dumps(dict(first["heads_scored"], step=s), separators=(",", ":")) + "\n")
                sample = dict(first["sample"], step=s)
                write(json.dumps(sample, separators=(",", ":"), ensure_ascii=False) + "\n")
                for suffix, data in source.items():
                    if suffix == "attn":  # its header names its step
                        header, _, weights = data.partition(b"\n")
                        data = (
                            json.dumps(dict(json.loads(header), step=s)).encode() + b"\n" + weights
                        )
                    else:
                        data = json.dumps(dict(json.loads(data), step=s)).encode()
                    (snapshots / f"step-{s:08d}.{suffix}").write_bytes(data)
            if s == steps // 3:
                write(
                    f'{{"kind":"phase","phase":"induction","step":{s},"layer":1,"head":2,'
                    '"score":0.52,"detail":"induction head L1H2 formed: score 0.52"}\n'
                )
        write(f'{{"kind":"checkpoint","step":{steps},"path":"{run}/model.safetensors"}}\n')
        write(f'{{"kind":"finished","reason":"completed","step":{steps}}}\n')


def bench_report(rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        run = base / "long"
        make_long_run(short_run(base), run)
        out = base / "report.html"
        seconds, cpu = [], []
        for _ in range(rounds):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "tui.cli", "report", str(run), "-o", str(out)],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            seconds.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        page = out.read_text(encoding="utf-8")
        return {
            "steps": STEPS,
            "events_mb": round((run / "events.jsonl").stat().st_size / 1e6, 1),
            "snapshots": STEPS // EVAL_EVERY + 1,
            "seconds_median": round(statistics.median(seconds), 2),
            "seconds": [round(s, 2) for s in seconds],
            "cpu_seconds_median": round(statistics.median(cpu), 2),  # the load disturbs it less
            "report_mb": round(out.stat().st_size / 1e6, 2),
            "figures": page.count("<svg"),
            "load_avg_1min": round(os.getloadavg()[0], 1),
        }
