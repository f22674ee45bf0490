"""How fast a run starts: `python -m bench.engine --only startup`.

- command_to_first_step_s: from typing the command (`llmlearns-tui --preset seed`, in tmux at
  120×40) to the first training step on screen, read off the terminal every 10 ms (goal ≤ 2.0 s);
- worker_to_first_step_s: the engine's share, from `EngineClient.start` to the first
  StepCompleted, in a fresh process that has imported only the client;
- command_to_first_frame_s: from typing the command to the app's first frame on screen (its view
  tabs), beside smallest_app_to_first_frame_s, the smallest Textual app (Header, Static, Footer)
  started the same way in the same rounds: Python's and Textual's own start, which no app of
  ours can beat (goal ≤ 0.5 s);
- first_frame_ms: the app's first frame, headless and in-process (bench/tui).
Medians over rounds. Needs tmux for the first figure; without it that figure is skipped.
"""

from __future__ import annotations

import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import ROOT
from bench.tmux import Session

FIRST_STEP = re.compile(r"step [1-9][\d,]*/")

ENGINE_ONLY = """
import sys, time
t0 = time.perf_counter()
from engine.process.client import EngineClient
from engine.contract.config import preset
from engine.contract.events import StepCompleted
client = EngineClient.start(preset("seed"), sys.argv[1])
for event in client.events():
    if isinstance(event, StepCompleted):
        print(time.perf_counter() - t0)
        break
client.close()
"""


SMALLEST_APP = """
from textual.app import App
from textual.widgets import Footer, Header, Static
class Smallest(App):
    def compose(self):
        yield Header()
        yield Static("smallest app drawn")
        yield Footer()
Smallest().run()
"""


def command_to_first_frame_s(run_dir: Path, smallest: bool, timeout_s: float = 60.0) -> float:
    """One start in a fresh tmux session, timed to the first frame; then quit at once."""
    session = Session(f"llmlearns-frame-{run_dir.name}")
    if smallest:
        command, drawn = f"{sys.executable} -c {shlex.quote(SMALLEST_APP)}", "smallest app drawn"
    else:
        command = f"PYTHONPATH={ROOT} {sys.executable} -m tui.cli --preset seed --run-dir {run_dir}"
        drawn = "1 Train"
    try:
        typed = session.start(command)
        return session.wait_for(lambda screen: drawn in screen, timeout_s, poll=0.005) - typed
    finally:
        session.end(quit_key=None)


def command_to_first_step_s(run_dir: Path, timeout_s: float = 60.0) -> float:
    """One run of the real command in a fresh tmux session; quits once its short run ends."""
    session = Session(f"llmlearns-bench-{run_dir.name}")
    command = (
        f"PYTHONPATH={ROOT} {sys.executable} -m tui.cli --preset seed --steps 40 "
        f"--run-dir {run_dir}; sleep 5"
    )
    try:
        typed = session.start(command)
        seconds = (
            session.wait_for(lambda screen: bool(FIRST_STEP.search(screen)), timeout_s) - typed
        )
        # The 40 steps end within a second or two; a finished run quits without asking.
        session.wait_for(lambda screen: "finished" in screen, timeout_s, poll=0.1)
        session.end(grace_s=0.5)
        return seconds
    finally:
        session.end(quit_key=None)


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
    from bench.tui import first_frame_ms

    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        engine_only = [worker_to_first_step_s(Path(folder) / f"e{i}") for i in range(rounds)]
        results["worker_to_first_step_s_median"] = round(statistics.median(engine_only), 2)
        if shutil.which("tmux"):
            whole = [command_to_first_step_s(Path(folder) / f"c{i}") for i in range(rounds)]
            results["command_to_first_step_s_median"] = round(statistics.median(whole), 2)
            results["command_to_first_step_s_all"] = [round(s, 2) for s in whole]
            frames: dict[str, list[float]] = {"app": [], "smallest": []}
            for i in range(rounds):  # alternated: a noisy moment slows both alike
                frames["app"].append(command_to_first_frame_s(Path(folder) / f"f{i}", False))
                frames["smallest"].append(command_to_first_frame_s(Path(folder) / f"s{i}", True))
            results["command_to_first_frame_s_median"] = round(statistics.median(frames["app"]), 2)
            results["smallest_app_to_first_frame_s_median"] = round(
                statistics.median(frames["smallest"]), 2
            )
        else:
            results["command_to_first_step_s_median"] = "skipped: no tmux"
    results.update(first_frame_ms(rounds))
    return results
