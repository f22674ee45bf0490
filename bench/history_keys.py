"""A long history loading in the TUI, in tmux: `python -m bench.live --only history`.

Issue 24: the TUI attached to a finished run with a 1,000,000-step history (bench/engine/history.py
makes it) took 15.8 s to answer the view key 2, and said "running" until it had read it all. Here
the TUI attaches to such a run at 80x24 as a user would, and while the header says "loading
history", view keys (2 and 1 in turn) are timed from the key to the app's write that shows the
view (goal: at most 500 ms). Then: how long the history took to load, the state the header shows
once it has (it must be "finished"), and the peak RSS of the TUI and of the worker it started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import ROOT, latency_figures
from bench.engine.history import STEPS, _peak_rss_mb, make_history
from bench.tmux import Session, TmuxControl, tmux

SESSION = f"llmlearns-bench-history-{os.getpid()}"
SIZE = (80, 24)
# What each view shows that the other does not, with no run data yet: a key has landed when it is
# on screen. The attention view's "auto" switch; the Train view's stats panel.
MARKERS = {"2": "auto", "1": "Stats"}
LOADING = "loading history"


def _tui_pid(session: str) -> int | None:
    """The TUI's process: the pane's command, or the python under it if a shell runs it."""
    pane = tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip()
    pids = [int(pane)] if pane.isdigit() else []
    while pids:
        pid = pids.pop(0)
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        if b"tui.cli" in command:
            return pid
        pids += [int(child) for child in children]
    return None


def _header(screen: str) -> str:
    return screen.splitlines()[0] if screen else ""


def figures(tmp: Path, steps: int = STEPS) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    short, run = tmp / "history-short", tmp / "history-run"
    subprocess.run(
        [sys.executable, "-m", "tui.cli", "--headless", "--steps", "20", "--eval-every", "10",
         "--run-dir", str(short)],
        env=env, check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    make_history(short, run, steps, "completed")
    load = os.getloadavg()
    session = Session(SESSION, SIZE)
    started = session.start(f"{sys.executable} -m tui.cli attach {run}")
    peaks = {"tui": 0.0, "worker": 0.0}
    keys: list[float] = []
    try:
        tmux_control = TmuxControl(SESSION)
        try:
            if not tmux_control.wait_for(lambda screen: LOADING in _header(screen), timeout=60):
                raise RuntimeError("the header never said 'loading history'")
            tui = _tui_pid(SESSION)
            key = "2"
            while LOADING in _header(tmux_control.screen()):
                marker = MARKERS[key]
                keys.append(tmux_control.press_until(key, lambda s, m=marker: m in s))
                key = "1" if key == "2" else "2"
                peaks = _peaks(peaks, tui, run)
                time.sleep(0.3)
            loaded = tmux_control.wait_for(lambda s: LOADING not in _header(s), timeout=120)
            loading_s = time.perf_counter() - started
            header = _header(tmux_control.screen())
            peaks = _peaks(peaks, tui, run)
        finally:
            tmux_control.close()
    finally:
        session.end()
    return {
        "history_steps": steps,
        "history_events_mb": round((run / "events.jsonl").stat().st_size / 1e6, 1),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "view_keys_while_loading": len(keys),
        **(latency_figures("view_key_while_loading", keys) if keys else {}),
        "view_key_while_loading_ms_max": round(max(keys), 1) if keys else None,
        "attach_to_loaded_s": round(loading_s, 1) if loaded else None,
        "header_once_loaded": " ".join(w for w in header.split() if w.strip("━╸╺")),
        "tui_peak_rss_mb": round(peaks["tui"]),
        "worker_peak_rss_mb": round(peaks["worker"]),
    }


def _peaks(peaks: dict, tui: int | None, run: Path) -> dict:
    """The peak RSS so far (VmHWM) of the TUI and of the run's worker."""
    try:
        worker = json.loads((run / "worker.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        worker = None
    return {
        "tui": max(peaks["tui"], _peak_rss_mb(tui) if tui else 0.0),
        "worker": max(peaks["worker"], _peak_rss_mb(worker) if worker else 0.0),
    }
