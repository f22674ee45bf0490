"""How fast a run starts: `python -m engine.bench --only startup`.

- command_to_first_step_s: from typing the command (`llmlearns-tui --preset seed`, in tmux at
  120×40) to the first training step on screen, read off the terminal every 10 ms (goal ≤ 2.0 s);
- worker_to_first_step_s: the engine's share, from `EngineClient.start` to the first
  StepCompleted, in a fresh process that has imported only the client;
- first_frame_ms: the app's first frame, headless (tui/bench; goal ≤ 500 ms).
Medians over rounds. Needs tmux for the first figure; without it that figure is skipped.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FIRST_STEP = re.compile(r"step [1-9][\d,]*/")

ENGINE_ONLY = """
import sys, time
t0 = time.perf_counter()
from engine.client import EngineClient
from engine.config import preset
from engine.events import StepCompleted
client = EngineClient.start(preset("seed"), sys.argv[1])
for event in client.events():
    if isinstance(event, StepCompleted):
        print(time.perf_counter() - t0)
        break
client.close()
"""


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, check=False, timeout=10
    ).stdout


def command_to_first_step_s(run_dir: Path, timeout_s: float = 60.0) -> float:
    """One run of the real command in a fresh tmux session; quits once its short run ends."""
    session = f"llmlearns-bench-{run_dir.name}"
    command = (
        f"PYTHONPATH={ROOT} {sys.executable} -m tui.cli --preset seed --steps 40 "
        f"--run-dir {run_dir}; sleep 5"
    )
    start = time.perf_counter()
    _tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        while time.perf_counter() - start < timeout_s:
            if FIRST_STEP.search(_tmux("capture-pane", "-p", "-t", session)):
                seconds = time.perf_counter() - start
                break
            time.sleep(0.01)
        else:
            raise RuntimeError(f"no training step on screen within {timeout_s:.0f} s")
        # The 40 steps end within a second or two; a finished run quits without asking.
        while "finished" not in _tmux("capture-pane", "-p", "-t", session):
            if time.perf_counter() - start > timeout_s:
                break
            time.sleep(0.1)
        _tmux("send-keys", "-t", session, "q")
        time.sleep(0.5)
        return seconds
    finally:
        _tmux("kill-session", "-t", session)


def worker_to_first_step_s(run_dir: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", ENGINE_ONLY, str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        check=True,
    )
    return float(out.stdout.split()[-1])


def bench_startup(rounds: int) -> dict:
    from tui.bench import first_frame_ms

    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        engine_only = [worker_to_first_step_s(Path(folder) / f"e{i}") for i in range(rounds)]
        results["worker_to_first_step_s_median"] = round(statistics.median(engine_only), 2)
        if shutil.which("tmux"):
            whole = [command_to_first_step_s(Path(folder) / f"c{i}") for i in range(rounds)]
            results["command_to_first_step_s_median"] = round(statistics.median(whole), 2)
            results["command_to_first_step_s_all"] = [round(s, 2) for s in whole]
        else:
            results["command_to_first_step_s_median"] = "skipped: no tmux"
    results.update(first_frame_ms(rounds))
    return results
