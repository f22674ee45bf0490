"""Bench: a generated corpus bigger than it is pleasant to hold in memory, through the real worker.

    python -m bench.engine --only bigcorpus [--corpus-mb 1024] [--tokenizer char --tokenizer bpe]

For each tokenizer: a first run (empty token cache) and a second run on the same corpus, each
timed from EngineClient.start to the first step, with the worker's peak RSS (VmHWM) and, during
the first run's tokenising, how long the worker takes to answer a status request (what keeps a
client's keys live). The corpus and the cache live in a temp folder that is removed afterwards.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.contract.config import PRESETS, DataConfig, ModelConfig, TrainConfig
from engine.contract.events import EngineFailed, StepCompleted, TokenizeProgress, TrainingStarted

WORDS_PER_LINE = 12


def generate_corpus(path: Path, megabytes: int, seed: int = 0) -> None:
    """Zipf-distributed made-up words, 12 to a line: word-like text with a long tail."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "qu", "an", "el", "or"]
    vocab = np.array(
        ["".join(rng.choice(syllables, rng.integers(1, 5))) for _ in range(30_000)], dtype=object
    )
    target = megabytes * 1_000_000
    with path.open("w", encoding="utf-8") as file:
        while file.tell() < target:
            ids = np.minimum(rng.zipf(1.3, 600_000), len(vocab)) - 1
            words = vocab[ids]
            lines = [
                " ".join(words[i : i + WORDS_PER_LINE])
                for i in range(0, len(words), WORDS_PER_LINE)
            ]
            file.write("\n".join(lines) + "\n")


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _one_run(config, run_dir: Path) -> dict:
    """Start a worker, follow it to its first step, probing status latency while it tokenises."""
    from engine.process.client import EngineClient

    started = time.perf_counter()
    client = EngineClient.start(config, run_dir)
    listening = time.perf_counter() - started
    marks: dict[str, float] = {}
    stages: dict[str, float] = {}  # when each tokenising pass was first heard of
    failure: list[str] = []

    def follow() -> None:
        for event in client.events():
            now = time.perf_counter() - started
            if isinstance(event, TokenizeProgress):
                marks.setdefault("first_progress_s", now)
                stages.setdefault(event.stage.value, now - event.elapsed_s)
            elif isinstance(event, TrainingStarted):
                marks["training_started_s"] = now
            elif isinstance(event, StepCompleted):
                marks["first_step_s"] = now
                return
            elif isinstance(event, EngineFailed):
                failure.append(event.reason)
                return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    latencies = []
    while reader.is_alive():
        if "training_started_s" not in marks:
            asked = time.perf_counter()
            client.status()
            latencies.append(time.perf_counter() - asked)
        reader.join(0.5)
    peak = _peak_rss_mb(client.pid) if client.pid else None
    client.shutdown()
    ends = [*list(stages.values())[1:], marks.get("training_started_s", 0.0)]
    result = {
        "listening_s": round(listening, 2),
        **{name: round(value, 2) for name, value in marks.items()},
        "stage_seconds": {
            stage: round(end - start, 1)
            for (stage, start), end in zip(stages.items(), ends, strict=True)
        },
        "worker_peak_rss_mb": peak,
    }
    if latencies:
        result["status_ms_while_starting"] = {
            "median": round(statistics.median(latencies) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
            "asked": len(latencies),
        }
    if failure:
        result["failed"] = failure[0]
    return result


def bench_bigcorpus(megabytes: int, tokenizers: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="llmlearns-bigcorpus-") as tmp:
        root = Path(tmp)
        corpus = root / "corpus.txt"
        made = time.perf_counter()
        generate_corpus(corpus, megabytes)
        result: dict = {
            "corpus_mb": round(corpus.stat().st_size / 1e6, 1),
            "generate_s": round(time.perf_counter() - made, 1),
        }
        old_cache = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = str(root / "cache")  # workers inherit it
        try:
            for kind in tokenizers:
                config = replace(
                    PRESETS["char-small"],
                    data=DataConfig(corpus=str(corpus), tokenizer=kind, bpe_vocab_size=4096),
                    model=ModelConfig(n_layer=2, n_head=2, n_embd=64, block_size=64),
                    train=TrainConfig(max_steps=10**6, eval_every=10**6, device="cpu"),
                )
                first = _one_run(config, root / f"{kind}-first")
                second = _one_run(config, root / f"{kind}-second")
                result[kind] = {"first_run": first, "second_run_cached": second}
        finally:
            if old_cache is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = old_cache
        result["cache_mb"] = round(
            sum(p.stat().st_size for p in (root / "cache").rglob("*") if p.is_file()) / 1e6, 1
        )
    return result
