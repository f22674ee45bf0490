"""The GPU check of issue 11, in one run of a few minutes: `python -m bench.engine --only gpu`.

On one CUDA device: char-gpu training tokens/s of the engine against baseline (b), the plain
nanoGPT-style loop, on the same GPU, config and precision (bf16 autocast); cached decoding tokens/s
with CUDA graphs against the eager decoder; then `pytest tests/test_cuda.py`. Prints each part as it
ends and a compact summary last. Like the rest of the bench, it measures and asserts nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import replace

import torch

from bench import ROOT, SHAKESPEARE
from bench.engine.baselines import nanogpt_step_fn
from engine.contract.config import PRESETS, RunConfig, SampleConfig
from engine.contract.events import StepCompleted
from engine.model import decode
from engine.model.generate import sample_ids
from engine.training.trainer import Trainer

TEST_TIMEOUT_S = 180


def gpu_config(preset: str, device: str = "cuda", **train) -> RunConfig:
    base = PRESETS[preset]
    corpus = str(SHAKESPEARE) if SHAKESPEARE.exists() else ""  # "" is the bundled corpus
    return replace(
        base,
        data=replace(base.data, corpus=corpus),
        train=replace(base.train, device=device, max_steps=10**9, eval_every=10**9, **train),
    )


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bench_gpu_training(
    rounds: int, steps: int, preset: str = "char-gpu", device: str = "cuda"
) -> dict:
    """Steps/s of the engine (events on, lazy reads) and of baseline (b), interleaved by round.

    `steps` should be a multiple of the preset's log_every (10 for char-gpu)."""
    trainers = {
        "engine": Trainer.create(gpu_config(preset, device)),
        "engine_without_graph": Trainer.create(gpu_config(preset, device)),
    }
    trainers["engine_without_graph"].graph = None  # the lazy eager step alone
    first = trainers["engine"]
    model, train = first.config.model, first.config.train
    plain = nanogpt_step_fn(model, first.data.train, train.batch_size, train.lr, first.device)

    def engine(trainer: Trainer):
        events = trainer.events()

        def run(n: int) -> None:
            target = trainer.step + n
            for event in events:
                if isinstance(event, StepCompleted) and event.step >= target:
                    return

        return run

    def timed(run, n: int, count=None) -> float:
        """Seconds per step; `count` gives steps really done (the engine queues a few ahead)."""
        _sync()
        before, started = count() if count else 0, time.perf_counter()
        run(n)
        _sync()
        done = count() - before if count else n
        return (time.perf_counter() - started) / done

    runners = {
        name: (lambda run, t: lambda n: timed(run, n, lambda: t.step))(engine(trainer), trainer)
        for name, trainer in trainers.items()
    }
    runners["baseline_b_nanogpt"] = lambda n: timed(lambda k: [plain() for _ in range(k)], n)
    for run in runners.values():  # warm up: the first steps allocate, pick kernels, capture
        run(3 * train.log_every)
    per_step: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            per_step[name].append(run(steps))
    tokens = train.batch_size * model.block_size
    result: dict = {
        "params": first.model.num_params(),
        "tokens_per_step": tokens,
        "graph_step": first.graph is not None and first.graph.graph is not None,
        "reads_per_step": round(first.reader.reads / max(1, first.step), 3),
    }
    for name, values in per_step.items():
        result[name] = {"tokens_per_s": round(tokens / statistics.median(values))}
    baseline = result["baseline_b_nanogpt"]["tokens_per_s"]
    result["engine_vs_b"] = round(result["engine"]["tokens_per_s"] / baseline, 2)
    result["without_graph_vs_b"] = round(
        result["engine_without_graph"]["tokens_per_s"] / baseline, 2
    )
    return result


def bench_compiled(rounds: int, steps: int, preset: str = "char-gpu", device: str = "cuda") -> dict:
    """The engine with --compile: a minute or so to compile, so only on request, and last."""
    started = time.perf_counter()
    trainer = Trainer.create(gpu_config(preset, device, compile=True))
    tokens = trainer.config.train.batch_size * trainer.config.model.block_size
    events = trainer.events()
    timings = []
    for i in range(rounds + 1):
        _sync()
        before, began = trainer.step, time.perf_counter()
        target = trainer.step + (3 * trainer.config.train.log_every if i == 0 else steps)
        next(e for e in events if isinstance(e, StepCompleted) and e.step >= target)
        _sync()
        if i:
            timings.append((time.perf_counter() - began) / (trainer.step - before))
        else:
            compile_s = time.perf_counter() - started
    return {
        "tokens_per_s": round(tokens / statistics.median(timings)),
        "compile_s": round(compile_s, 1),
    }


def bench_gpu_decoding(
    rounds: int,
    new_tokens: int = 500,
    presets: tuple[str, ...] = ("char-small", "char-gpu"),
    device: str = "cuda",
) -> dict:
    """Cached decoding tokens/s, eager decoder against CUDA graphs, for char-small and char-gpu."""
    result = {}
    for preset in presets:
        trainer = Trainer.create(gpu_config(preset, device))
        model = trainer.model.eval()
        prompt = trainer.tokenizer.encode("\n").ids
        config = SampleConfig(max_new_tokens=new_tokens, seed=1)
        greedy = SampleConfig(max_new_tokens=new_tokens, temperature=0)
        timings: dict[str, list[float]] = {"eager": [], "graphs": []}
        tokens: dict[str, list[int]] = {}
        for name in timings:  # warm up; the graphs' first pass captures every position
            decode.GRAPHS = name == "graphs"
            tokens[name] = [t for t, _ in sample_ids(model, prompt, greedy)]
        for _ in range(rounds):
            for name in timings:
                decode.GRAPHS = name == "graphs"
                _sync()
                started = time.perf_counter()
                count = sum(1 for _ in sample_ids(model, prompt, config))
                timings[name].append(time.perf_counter() - started)
                assert count == new_tokens
        decode.GRAPHS = True
        rates = {name: round(new_tokens / statistics.median(t), 1) for name, t in timings.items()}
        result[preset] = {
            "tokens_per_s": rates,
            "graphs_vs_eager": round(rates["graphs"] / rates["eager"], 2),
            "greedy_tokens_equal": tokens["eager"] == tokens["graphs"],
        }
    return result


def run_cuda_tests() -> dict:
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_cuda.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TEST_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"exit_code": None, "summary": f"timed out after {TEST_TIMEOUT_S} s"}
    lines = (done.stdout + done.stderr).strip().splitlines()
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return {
        "exit_code": done.returncode,
        "summary": lines[-1] if lines else "",
        "failures": failures[:10],
        "seconds": round(time.perf_counter() - started, 1),
    }


def bench_gpu(rounds: int, compile_too: bool = False) -> dict:
    """Everything the GPU check reports; each part is printed to stderr as it ends."""
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    result: dict = {"device": torch.cuda.get_device_name()}
    parts = {
        "training_char_gpu": lambda: bench_gpu_training(rounds, 100),
        "decoding": lambda: bench_gpu_decoding(rounds),
        "test_cuda": run_cuda_tests,
    }
    if compile_too:
        parts["training_char_gpu_compiled"] = lambda: bench_compiled(rounds, 100)
    for name, part in parts.items():
        started = time.perf_counter()
        try:
            result[name] = part()
        except Exception as error:  # one broken part must not hide the others' figures
            result[name] = {"error": f"{type(error).__name__}: {error}"}
        result[name]["part_s"] = round(time.perf_counter() - started, 1)
        print(f"gpu {name}: {result[name]}", file=sys.stderr, flush=True)
    return result


def summary(result: dict) -> str:
    """A few lines for a person: each figure beside its goal."""
    if "skipped" in result:
        return f"GPU check skipped: {result['skipped']}"
    lines = [f"GPU check on {result['device']}"]
    training = result.get("training_char_gpu", {})
    if "engine_vs_b" in training:
        lines.append(
            f"  char-gpu training: engine {training['engine']['tokens_per_s']:,} tok/s, "
            f"nanoGPT-style loop {training['baseline_b_nanogpt']['tokens_per_s']:,} tok/s: "
            f"{training['engine_vs_b']}x (goal >= 1.5x); step captured as a CUDA graph: "
            f"{training['graph_step']}; {training['reads_per_step']} host reads per step"
        )
        lines.append(
            f"  char-gpu without the graph (lazy reads only): "
            f"{training['engine_without_graph']['tokens_per_s']:,} tok/s: "
            f"{training['without_graph_vs_b']}x"
        )
    else:
        lines.append(f"  char-gpu training: {training}")
    for preset, figures in result.get("decoding", {}).items():
        if not isinstance(figures, dict):
            continue
        rates = figures["tokens_per_s"]
        lines.append(
            f"  decoding {preset}: graphs {rates['graphs']:,} tok/s, eager {rates['eager']:,} "
            f"tok/s: {figures['graphs_vs_eager']}x (goal >= 3x); greedy tokens equal: "
            f"{figures['greedy_tokens_equal']}"
        )
    if "error" in result.get("decoding", {}):
        lines.append(f"  decoding: {result['decoding']['error']}")
    tests = result.get("test_cuda", {})
    lines.append(f"  tests/test_cuda.py: {tests.get('summary') or tests}")
    lines += [f"    {line}" for line in tests.get("failures", [])]
    if compiled := result.get("training_char_gpu_compiled"):
        if "tokens_per_s" in compiled:
            lines.append(
                f"  char-gpu with --compile: {compiled['tokens_per_s']:,} tok/s "
                f"(compiled in {compiled['compile_s']} s)"
            )
        else:
            lines.append(f"  char-gpu with --compile: {compiled}")
    return "\n".join(lines)
