"""Long histories: `python -m bench.engine --only history`.

A finished and a stopped run, each with a made-up history of STEPS step events (an eval every
250, a sample every 5,000) behind a short real run's files, attached headless as a user would
(`llmlearns-tui attach RUN --headless`), timed against one bare `json.loads` pass over the same
events.jsonl (goal: at most 1.5x), with the peak RSS of the client and of the worker it starts.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import ROOT

STEPS = 1_000_000


def make_history(short: Path, run: Path, steps: int, end: str) -> None:
    """`run`: the short run's files with a history of `steps` steps that ends `end`."""
    run.mkdir()
    for name in ("tokenizer.json", "model.safetensors", "optimizer.safetensors"):
        (run / name).write_bytes((short / name).read_bytes())
    max_steps = steps if end == "completed" else 2 * steps
    config = json.loads((short / "config.json").read_text())
    config["train"]["max_steps"] = max_steps
    (run / "config.json").write_text(json.dumps(config))
    started = json.loads((short / "events.jsonl").read_text().splitlines()[0])
    started.update(max_steps=max_steps, run_dir=str(run))
    with (run / "events.jsonl").open("w") as file:
        file.write(json.dumps(started, separators=(",", ":")) + "\n")
        for s in range(1, steps + 1):
            loss = 1.5 + 2.7 * math.exp(-s / (steps / 20)) + 0.1 * math.sin(s)
            file.write(
                f'{{"kind":"step","step":{s},"loss":{loss!r},"lr":0.001,"grad_norm":0.5,'
                f'"tokens_per_s":45000.0,"elapsed_s":{s * 0.0021!r},"tokens_seen":{s * 96}}}\n'
            )
            if s % 250 == 0:
                file.write(f'{{"kind":"eval","step":{s},"train_loss":{loss!r},"val_loss":'
                           f'{loss + 0.05!r}}}\n')  # fmt: skip
            if s % 5000 == 0:
                file.write(f'{{"kind":"sample","step":{s},"prompt":"oh","text":"oh my love"}}\n')
        file.write(f'{{"kind":"checkpoint","step":{steps},"path":"{run}/model.safetensors"}}\n')
        file.write(f'{{"kind":"finished","reason":"{end}","step":{steps}}}\n')


def json_pass_s(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as file:
        for line in file:
            json.loads(line)
    return time.perf_counter() - started


def _peak_rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) / 1024


def attach_headless(run: Path) -> dict:
    """Wall time of `attach --headless` to its exit, and the peak RSS of it and of its worker,
    read from /proc while they run (a forked child's rusage would count this process too)."""
    peaks = {"client": 0.0, "worker": 0.0}
    done = threading.Event()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "attach", str(run), "--headless"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def watch() -> None:
        while not done.is_set():
            peaks["client"] = max(peaks["client"], _peak_rss_mb(process.pid))
            try:  # the worker runs detached: its pid is in the run's worker.json
                pid = json.loads((run / "worker.json").read_text())["pid"]
                peaks["worker"] = max(peaks["worker"], _peak_rss_mb(pid))
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()
    assert process.stdout is not None
    first = process.stdout.readline().decode().strip()
    process.stdout.read()
    code = process.wait()
    seconds = time.perf_counter() - started
    done.set()
    return {
        "seconds": seconds,
        "exit_code": code,
        "client_peak_rss_mb": peaks["client"],
        "worker_peak_rss_mb": peaks["worker"],
        "first_line": first,
    }


def bench_history(rounds: int, steps: int = STEPS) -> dict:
    results: dict = {"steps": steps}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        short = root / "short"
        subprocess.run(
            [sys.executable, "-m", "tui.cli", "--headless", "--steps", "20", "--eval-every", "10",
             "--run-dir", str(short)],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True,
        )  # fmt: skip
        for end in ("completed", "stopped"):
            run = root / end
            make_history(short, run, steps, end)
            passes, attaches = [], []
            for _ in range(rounds):  # alternated, so a noisy machine slows both alike
                passes.append(json_pass_s(run / "events.jsonl"))
                attaches.append(attach_headless(run))
            seconds = [a["seconds"] for a in attaches]
            results[end] = {
                "events_mb": round((run / "events.jsonl").stat().st_size / 1e6, 1),
                "json_pass_s_median": round(statistics.median(passes), 2),
                "attach_headless_s_median": round(statistics.median(seconds), 2),
                "attach_vs_json_pass": round(
                    statistics.median(seconds) / statistics.median(passes), 2
                ),
                "client_peak_rss_mb": round(max(a["client_peak_rss_mb"] for a in attaches)),
                "worker_peak_rss_mb": round(max(a["worker_peak_rss_mb"] for a in attaches)),
                "exit_codes": sorted({a["exit_code"] for a in attaches}),
                "first_line": attaches[-1]["first_line"],
            }
    return results
