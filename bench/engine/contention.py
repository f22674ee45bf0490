"""Training speed under CPU contention: `python -m bench.engine --only contention`.

Each round runs a headless CLI run per preset and policy twice, quiet and beside one competing
CPU-bound process that the bench starts and kills; rounds interleave so that drift on a shared
machine touches both sides alike. The figure is wall time from spawning the CLI to its exit
(interpreter and torch start-up included, as a person waits for them), median over rounds, and the
loaded/quiet ratio of those medians. The goal (issue 9): loaded at most 2x quiet.

The competitor runs in the bench's session, so where Linux groups processes by session
(autogroup) it competes with the worker in one group, as on a machine without that grouping: the
harder case. Other load on the machine shrinks the group's share and inflates the ratio, so the
load average is reported beside the figures. --policy overrides the worker's CPU policy (see
engine/process/cpu_policy.py) to compare variants in the same rounds; --competitor none runs quiet
only.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT, corpus_for
from engine.process.cpu_policy import OPENMP_SETTINGS, OVERRIDE

STEPS = {"seed": 1500, "char-small": 200}

# Competitors run with torch's defaults (a thread per core, OpenMP's default spinning) at the
# bench's own priority: what a person's other training script or notebook would be.
COMPETITORS = {
    "torch": """
import torch
model = torch.nn.Sequential(
    torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 256))
optimizer = torch.optim.AdamW(model.parameters())
x = torch.randn(128, 256)
step = 0
while True:
    loss = model(x).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    step += 1
    if step == 3:
        print("ready", flush=True)
""",
    "spin": """
print("ready", flush=True)
while True:
    pass
""",
}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (OVERRIDE, *OPENMP_SETTINGS)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def start_competitor(kind: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", COMPETITORS[kind]],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_clean_env(),
    )
    process.stdout.readline()  # "ready": torch is loaded and the loop is going
    return process


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()


def headless_run(preset: str, steps: int, run_dir: Path, policy: str | None) -> dict:
    """One run through the CLI: its wall seconds, its own training seconds, the policy in force."""
    env = _clean_env()
    if policy:
        env[OVERRIDE] = policy
    command = [sys.executable, "-m", "tui.cli", "--headless", "--preset", preset,
               "--corpus", str(corpus_for(preset)), "--steps", str(steps),
               "--run-dir", str(run_dir)]  # fmt: skip
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"the {preset} run failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    elapsed = 0.0
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        elapsed = json.loads(line).get("elapsed_s", elapsed)
    log = (run_dir / "worker.log").read_text()
    in_force = next(
        (line.removeprefix("cpu policy: ") for line in log.splitlines() if "cpu policy" in line),
        "unknown",
    )
    return {"wall_s": wall, "train_s": elapsed, "policy": in_force, "load": load}


def _summary(runs: list[dict]) -> dict:
    walls = sorted(run["wall_s"] for run in runs)
    return {
        "wall_s": round(statistics.median(walls), 2),
        "wall_s_all": [round(w, 2) for w in walls],
        "train_s": round(statistics.median(run["train_s"] for run in runs), 2),
    }


def bench_contention(
    rounds: int,
    presets: list[str],
    policies: list[str | None],
    competitor: str | None,
    steps: dict[str, int] | None = None,
) -> dict:
    """With `competitor` None, quiet runs only (to compare policies where nobody competes)."""
    steps = STEPS | (steps or {})
    # Stopped by SIGTERM (a timeout), the bench still runs its finally blocks: no rival outlives it.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    runs: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):
            for preset in presets:
                for p, policy in enumerate(policies):
                    for loaded in (False, True)[: 2 if competitor else 1]:
                        rival = start_competitor(competitor) if loaded else None
                        try:
                            run_dir = Path(tmp) / f"{preset}-{p}-{loaded}-{round_}"
                            result = headless_run(preset, steps[preset], run_dir, policy)
                        finally:
                            stop(rival)
                        runs.setdefault((preset, p, loaded), []).append(result)
                        print(
                            f"  {preset} [{result['policy']}] {'loaded' if loaded else 'quiet'}:"
                            f" {result['wall_s']:.1f} s",
                            file=sys.stderr,
                            flush=True,
                        )
    signal.signal(signal.SIGTERM, previous)
    loads = sorted(run["load"] for results in runs.values() for run in results)
    out: dict = {
        "competitor": competitor,
        "rounds": rounds,
        "steps": {preset: steps[preset] for preset in presets},
        # the 1-minute load average as each run began: what else this machine was doing
        "load_average": {
            "min": round(loads[0], 2),
            "median": round(statistics.median(loads), 2),
            "max": round(loads[-1], 2),
        },
    }
    for preset in presets:
        for p, _ in enumerate(policies):
            quiet = runs[(preset, p, False)]
            entry = {"policy": quiet[0]["policy"], "quiet": _summary(quiet)}
            if competitor:
                loaded = runs[(preset, p, True)]
                entry["loaded"] = _summary(loaded)
                ratio = entry["loaded"]["wall_s"] / entry["quiet"]["wall_s"]
                entry["loaded_vs_quiet"] = round(ratio, 2)
                # Each loaded run against the quiet run just before it: pairs close in time see
                # the same machine, so their spread shows how much the machine drifted.
                pairs = [b["wall_s"] / a["wall_s"] for a, b in zip(quiet, loaded, strict=True)]
                entry["loaded_vs_quiet_pairs"] = sorted(round(r, 2) for r in pairs)
            out.setdefault(preset, []).append(entry)
    return out
