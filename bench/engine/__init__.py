"""Benchmark: `python -m bench.engine [--quick]` prints JSON figures, each beside its baseline.

Every comparison is measured in the same process, interleaved round by round so that a noisy
machine slows both sides alike; figures are medians over rounds. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench import corpus_for
from bench.engine.baselines import demo_step_fn, nanogpt_step_fn
from engine.contract.config import PRESETS, RunConfig, SampleConfig
from engine.contract.events import EvalCompleted, StepCompleted
from engine.model.generate import sample_ids
from engine.training.trainer import Trainer

TARGET_VAL = 1.89


def config_for(preset: str, **train) -> RunConfig:
    base = PRESETS[preset]
    return replace(
        base,
        data=replace(base.data, corpus=str(corpus_for(preset))),
        train=replace(base.train, device="cpu", **train),
    )


def _median_rate(timings: list[float], units: int) -> float:
    return units / statistics.median(timings)


def bench_training(preset: str, rounds: int, steps: int) -> dict:
    """Steady-state steps/s of the engine (events on, written to a run dir) against (a) and (b)."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer.create(
            config_for(preset, max_steps=10**9, eval_every=10**9), Path(tmp) / "run"
        )
        events = trainer.events()
        model, train = trainer.config.model, trainer.config.train
        demo = demo_step_fn(model, trainer.data.train, train.batch_size, train.lr)
        plain = nanogpt_step_fn(model, trainer.data.train, train.batch_size, train.lr)

        def engine_steps(n: int) -> None:
            done = 0
            while done < n:
                done += isinstance(next(events), StepCompleted)

        runners = {
            "engine": engine_steps,
            "baseline_a_demo": lambda n: [demo() for _ in range(n)],
            "baseline_b_nanogpt": lambda n: [plain() for _ in range(n)],
        }
        for run in runners.values():  # warm up: first calls allocate and pick kernels
            run(max(3, steps // 5))
        timings: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(rounds):
            for name, run in runners.items():
                started = time.perf_counter()
                run(steps)
                timings[name].append(time.perf_counter() - started)
        trainer.close()
    tokens_per_step = train.batch_size * model.block_size
    result: dict = {"corpus": str(trainer.config.data.corpus), "params": trainer.model.num_params()}
    for name, values in timings.items():
        rate = _median_rate(values, steps)
        result[name] = {
            "steps_per_s": round(rate, 2),
            "tokens_per_s": round(rate * tokens_per_step),
        }
    engine_rate = result["engine"]["steps_per_s"]
    result["engine_vs_a"] = round(engine_rate / result["baseline_a_demo"]["steps_per_s"], 2)
    result["engine_vs_b"] = round(engine_rate / result["baseline_b_nanogpt"]["steps_per_s"], 2)
    return result


def bench_generation(rounds: int, new_tokens: int = 500) -> dict:
    """Tokens/s for 500 new tokens on char-small, with and without the KV cache."""
    trainer = Trainer.create(config_for("char-small"))
    model = trainer.model.eval()
    prompt = trainer.tokenizer.encode("\n").ids
    timings: dict[str, list[float]] = {"kv_cache": [], "no_cache": []}
    for name in timings:  # warm up
        list(
            sample_ids(model, prompt, SampleConfig(max_new_tokens=20, use_cache=name == "kv_cache"))
        )
    for _ in range(rounds):
        for name in timings:
            config = SampleConfig(max_new_tokens=new_tokens, use_cache=name == "kv_cache", seed=1)
            started = time.perf_counter()
            count = sum(1 for _ in sample_ids(model, prompt, config))
            timings[name].append(time.perf_counter() - started)
            assert count == new_tokens
    rates = {name: round(_median_rate(values, new_tokens), 1) for name, values in timings.items()}
    return {
        "new_tokens": new_tokens,
        "tokens_per_s": rates,
        "cache_speedup": round(rates["kv_cache"] / rates["no_cache"], 2),
    }


def bench_convergence() -> dict:
    """Train char-small for its 2000 steps; the val curve and when val first reached 1.89."""
    trainer = Trainer.create(config_for("char-small"))
    started = time.perf_counter()
    curve, reached = {}, None
    for event in trainer.events():
        if isinstance(event, EvalCompleted):
            curve[event.step] = round(event.val_loss, 4)
            if reached is None and event.val_loss <= TARGET_VAL:
                reached = {
                    "step": event.step,
                    "train_s": round(trainer.state.elapsed_s, 1),
                    "wall_s": round(time.perf_counter() - started, 1),
                }
    return {
        "corpus": str(trainer.config.data.corpus),
        "val_curve": curve,
        "final_val": curve[max(curve)],
        f"reached_{TARGET_VAL}": reached,
        "train_s": round(trainer.state.elapsed_s, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "final_val_400_batches": _precise_val(trainer),
    }


@torch.no_grad()
def fixed_val(trainer: Trainer, batches: int = 200, batch_size: int = 12) -> float:
    """Val loss over the fixed batches char-small's own eval draws with --eval-batches 200: the
    same 200 x 12 sequences whatever the run's batch size, so both presets meet the same test."""
    trainer.model.eval()
    rng = torch.Generator().manual_seed(trainer.config.train.seed + 1)
    total = 0.0
    for _ in range(batches):
        x, y = trainer.data.batch(
            "val", batch_size, trainer.config.model.block_size, rng, trainer.device
        )
        total += trainer.model(x, y)[1].item()
    trainer.model.train()
    return round(total / batches, 4)


def val_curve(preset: str, every: int) -> dict:
    """Train a preset's whole schedule on tinyshakespeare; every `every` steps, (step, training
    seconds, fixed_val). Training seconds are the step events' elapsed_s: evals excluded."""
    # The loop's own evals are made cheap (1 batch, once at each end): fixed_val measures.
    trainer = Trainer.create(config_for(preset, eval_every=10**9, eval_batches=1))
    last = trainer.config.train.max_steps
    curve = [(0, 0.0, fixed_val(trainer))]
    for event in trainer.events():
        if isinstance(event, StepCompleted) and (event.step % every == 0 or event.step == last):
            curve.append((event.step, round(event.elapsed_s, 2), fixed_val(trainer)))
    trainer.close()
    return {"curve": curve, "final_val": curve[-1][2], "train_s": curve[-1][1]}


def bench_race() -> dict:
    """char-small's 2000 steps, then char-modern's schedule, one right after the other: the
    training seconds each takes to reach the val char-small ends with (issue 10: <= 0.5x)."""
    classic = val_curve("char-small", every=250)
    modern = val_curve("char-modern", every=25)  # a finer grid: its time to the target
    target = classic["final_val"]

    def reached(curve: list) -> dict | None:
        hit = next(((step, s) for step, s, val in curve if val <= target), None)
        return None if hit is None else {"step": hit[0], "train_s": hit[1]}

    result: dict = {
        "corpus": str(corpus_for("char-small")),
        "target_val": target,
        "char_small": classic,
        "char_modern": modern,
        "char_small_to_target": reached(classic["curve"]),
        "char_modern_to_target": reached(modern["curve"]),
    }
    if result["char_modern_to_target"]:
        ratio = result["char_modern_to_target"]["train_s"] / classic["train_s"]
        result["time_ratio"] = round(ratio, 3)
    return result


def _precise_val(trainer: Trainer) -> float:
    """Val loss over 400 batches (a third of val): the recipe's 20 batches are a noisy estimate."""
    trainer.config = replace(trainer.config, train=replace(trainer.config.train, eval_batches=400))
    return round(trainer.evaluate().val_loss, 4)


def bench_worker(rounds: int) -> dict:
    """Through the worker: its training speed vs in-process, channel capacity, generate latency."""
    from engine.process.client import EngineClient

    steps = 30
    in_process, through_worker, latencies, step_times = [], [], [], []
    trainer = Trainer.create(config_for("char-small", max_steps=10**9, eval_every=10**9))
    local = trainer.events()
    with tempfile.TemporaryDirectory() as tmp:
        client = EngineClient.start(
            config_for("char-small", max_steps=10**9, eval_every=10**9), Path(tmp) / "run"
        )
        arrivals: list[float] = []
        stream = threading.Thread(
            target=lambda: [
                arrivals.append(time.perf_counter())
                for e in client.events()
                if isinstance(e, StepCompleted)
            ],
            daemon=True,
        )
        stream.start()
        while len(arrivals) < 10:
            time.sleep(0.05)
        for _ in range(rounds):
            client.resume()
            mark = len(arrivals)
            while len(arrivals) < mark + steps + 1:
                time.sleep(0.01)
            through_worker.append(arrivals[mark + steps] - arrivals[mark])
            client.pause()  # the worker rests while the in-process loop runs: no contention
            started, done = time.perf_counter(), 0
            while done < steps:
                done += isinstance(next(local), StepCompleted)
            in_process.append(time.perf_counter() - started)
        client.resume()
        for _ in range(3 * rounds):
            time.sleep(0.2)
            asked = time.perf_counter()
            tokens = iter(client.generate("ROMEO:", SampleConfig(max_new_tokens=5)))
            next(tokens)
            latencies.append(time.perf_counter() - asked)
            list(tokens)
        step_times = [b - a for a, b in zip(arrivals[-20:], arrivals[-19:], strict=False)]
        client.shutdown()
    ratio = statistics.median(in_process) / statistics.median(through_worker)
    return {
        "char_small_worker_vs_in_process": round(ratio, 3),
        "generate_first_token_ms": round(statistics.median(latencies) * 1000, 1),
        "training_step_ms": round(statistics.median(step_times) * 1000, 1),
        "channel_events_per_s": bench_channel(),
    }


def bench_channel(count: int = 20000) -> int:
    """Events/s through a real worker-style socket: send, receive and decode StepCompleted."""
    from multiprocessing.connection import Client, Listener

    from engine.contract.events import EVENT_TYPES
    from engine.process.channel import receive, send_event_line

    line = StepCompleted(1, 2.5, 1e-3, 0.5, 16000.0, 1.0, 768).to_json()
    with tempfile.TemporaryDirectory() as tmp:
        listener = Listener(str(Path(tmp) / "s"), family="AF_UNIX", authkey=b"bench")
        sender = threading.Thread(
            target=lambda: [
                send_event_line(conn, line) for conn in [listener.accept()] for _ in range(count)
            ]
        )
        sender.start()
        conn = Client(str(Path(tmp) / "s"), family="AF_UNIX", authkey=b"bench")
        started = time.perf_counter()
        for _ in range(count):
            EVENT_TYPES.from_json(receive(conn)[1])
        elapsed = time.perf_counter() - started
        sender.join()
        listener.close()
    return round(count / elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="skip the long runs (convergence, race, contention)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--only",
        choices=[
            "training",
            "generation",
            "convergence",
            "race",
            "worker",
            "contention",
            "startup",
            "bigcorpus",
            "gpu",
            "history",
            "gpt2",
            "stats",
            "report",
        ],
        help="training covers every preset's; race: char-small against char-modern to "
        "char-small's final val (val over the same 200 batches); gpu: the CUDA check (char-gpu "
        "training, graph decoding, tests/test_cuda.py); bigcorpus: a generated corpus through "
        "the token cache; history: attaching runs with a million-step history; gpt2: GPT-2 small "
        "opened, traced and sampled on this machine; stats: training statistics on and off, "
        "alternated (seed and char-small); report: the web page of a 100,000-step run, its "
        "time and size; gpu, bigcorpus, history, gpt2, stats and report run only when asked for",
    )
    parser.add_argument(
        "--compile", action="store_true", help="gpu: also time char-gpu with --compile (slow)"
    )
    parser.add_argument(
        "--corpus-mb", type=int, default=1024, help="bigcorpus: the generated corpus's size"
    )
    parser.add_argument(
        "--tokenizer",
        action="append",
        choices=["char", "word", "bpe"],
        help="bigcorpus: tokenizers to run (default: char and bpe)",
    )
    parser.add_argument(
        "--competitor",
        choices=["torch", "spin", "none"],
        default="torch",
        help="contention: the rival process (none: quiet runs only)",
    )
    parser.add_argument(
        "--policy",
        action="append",
        help="contention: a worker CPU policy to compare, e.g. nice=0,threads=1,spin=passive "
        "(repeat to interleave several; default: the chosen one, engine/process/cpu_policy.py)",
    )
    parser.add_argument(
        "--preset", action="append", choices=["seed", "char-small"], help="contention: presets"
    )
    parser.add_argument(
        "--steps", action="append", default=[], metavar="PRESET=N", help="contention: run length"
    )
    args = parser.parse_args(argv)
    steps = {name: n for name, _, n in (item.partition("=") for item in args.steps)}
    if any(name not in PRESETS or not n.isdigit() for name, n in steps.items()):
        parser.error("--steps takes PRESET=N, e.g. seed=500")
    steps = {name: int(n) for name, n in steps.items()}
    from bench.engine.bigcorpus import bench_bigcorpus
    from bench.engine.contention import bench_contention  # it imports this module
    from bench.engine.gpt2 import bench_gpt2
    from bench.engine.gpu import bench_gpu, summary
    from bench.engine.history import bench_history
    from bench.engine.report import bench_report
    from bench.engine.startup import bench_startup
    from bench.engine.stats import bench_stats

    results: dict = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    sections = {
        "training_seed": lambda: bench_training("seed", args.rounds, 100),
        "training_char_small": lambda: bench_training("char-small", args.rounds, 10),
        "training_char_modern": lambda: bench_training("char-modern", args.rounds, 10),
        "generation_char_small": lambda: bench_generation(args.rounds),
        "worker": lambda: bench_worker(args.rounds),
        "convergence_char_small": bench_convergence,
        "race": bench_race,
        "startup": lambda: bench_startup(args.rounds),
        "bigcorpus": lambda: bench_bigcorpus(args.corpus_mb, args.tokenizer or ["char", "bpe"]),
        "contention": lambda: bench_contention(
            args.rounds,
            args.preset or ["seed", "char-small"],
            args.policy or [None],
            None if args.competitor == "none" else args.competitor,
            steps,
        ),
        "gpu": lambda: bench_gpu(args.rounds, args.compile),
        "history": lambda: bench_history(args.rounds),
        "gpt2": lambda: bench_gpt2(args.rounds),
        "stats_seed": lambda: bench_stats("seed", args.rounds, chunks_of=10),
        "stats_char_small": lambda: bench_stats("char-small", args.rounds),
        "report": lambda: bench_report(args.rounds),
    }
    for name, run in sections.items():
        if args.only and not name.startswith(args.only):
            continue
        if name.startswith(("convergence", "race", "contention")) and args.quick:
            continue
        only_when_asked = ("gpu", "bigcorpus", "history", "gpt2", "stats", "report")
        if name.startswith(only_when_asked) and args.only != name.partition("_")[0]:
            continue
        results[name] = run()
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))
    if "gpu" in results:
        print(summary(results["gpu"]))
    return 0
