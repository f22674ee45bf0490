"""Every run opens: long, damaged and killed runs attach, and a long history replays in brief.

The histories are built here, by hand: a short real run's files with a made-up history.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.contract.events import (
    WIRE_ONLY,
    EvalCompleted,
    HistoryReplayed,
    StepCompleted,
    TokenizeStage,
    TrainingStats,
    event_from_json,
)
from engine.contract.learning import HeadStats, LayerStats, WeightStats
from engine.contract.run_state import RunState
from engine.runs.files import EVENTS, INFO_FILE
from engine.runs.history import Replay, last_state
from engine.runs.liveness import worker_info
from tests.conftest import alive

ROOT = Path(__file__).resolve().parent.parent


def environment(**extra: str) -> dict:
    """Read when a test runs, so that workers get the test session's token cache folder."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], cwd=cwd, env=environment(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, corpus_text) -> Path:
    """A finished 20-step run: its config, tokenizer and weights are what the others reuse."""
    folder = tmp_path_factory.mktemp("short")
    (folder / "corpus.txt").write_text(corpus_text)
    done = cli("--headless", "--corpus", "corpus.txt", "--block-size", "8", "--steps", "20",
               "--eval-every", "10", "--run-dir", "run", cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder / "run"


@pytest.fixture(scope="module")
def corpus_text() -> str:
    from tests.conftest import SONG

    return SONG * 12


def with_history(short_run: Path, folder: Path, steps: int, end: str | None) -> Path:
    """A copy of the short run whose history is `steps` made-up steps (an eval every 250), ending
    with `end` ("completed", "stopped") or cut off mid-run (None)."""
    run = folder / f"run-{steps}-{end}"
    run.mkdir()
    for name in ("tokenizer.json", "model.safetensors", "optimizer.safetensors"):
        (run / name).write_bytes((short_run / name).read_bytes())
    max_steps = steps if end == "completed" else 2 * steps
    config = json.loads((short_run / "config.json").read_text())
    config["train"]["max_steps"] = max_steps
    (run / "config.json").write_text(json.dumps(config))
    first = json.loads((short_run / EVENTS).read_text().splitlines()[0])
    first["max_steps"], first["run_dir"] = max_steps, str(run)
    with (run / EVENTS).open("w") as file:
        file.write(json.dumps(first, separators=(",", ":")) + "\n")
        for s in range(1, steps + 1):
            loss = 1.5 + 2.5 * math.exp(-s / 1000) + 0.05 * math.sin(s)
            file.write(StepCompleted(s, loss, 1e-3, 0.5, 1e4, s * 1e-3, s * 64).to_json() + "\n")
            if s % 250 == 0:
                file.write(EvalCompleted(s, loss, loss + 0.1).to_json() + "\n")
        if end is not None:
            file.write(f'{{"kind":"checkpoint","step":{steps},"path":"model.safetensors"}}\n')
            file.write(f'{{"kind":"finished","reason":"{end}","step":{steps}}}\n')
    return run


def replayed(run: Path, **kwargs) -> tuple[list, Replay]:
    replay = Replay(run, **kwargs)
    lines = b"".join(batch for batch in replay if batch is not None).splitlines()
    return [event_from_json(line) for line in lines], replay


def test_a_long_history_replays_in_brief_with_the_same_curve(short_run, tmp_path):
    run = with_history(short_run, tmp_path, 5_000, "completed")
    events, replay = replayed(run, recent=1_000, older_points=400)
    steps = [e for e in events if isinstance(e, StepCompleted)]
    assert replay.steps == 5_000 and len(steps) <= 1_000 + 400
    assert [e.step for e in steps][-1_000:] == list(range(4_001, 5_001))  # the recent, as they are
    assert sum(e.merged for e in steps) == 5_000  # every step stands in exactly one event
    assert [e.step for e in steps] == sorted(e.step for e in steps)
    everything = [e for e in replayed(run, recent=10**9)[0] if isinstance(e, StepCompleted)]
    mean = sum(e.loss for e in everything[:4_000]) / 4_000
    merged_mean = sum(e.loss * e.merged for e in steps[:-1_000]) / 4_000
    assert merged_mean == pytest.approx(mean, rel=1e-9)
    assert [e for e in events if isinstance(e, EvalCompleted)] == [
        e for e in replayed(run, recent=10**9)[0] if isinstance(e, EvalCompleted)
    ]  # everything but the steps comes as it is


def test_the_training_statistics_of_a_long_history_are_thinned_evenly(short_run, tmp_path):
    run = with_history(short_run, tmp_path, 5_000, "completed")
    lines = (run / EVENTS).read_text().splitlines(keepends=True)
    with (run / EVENTS).open("w") as file:  # statistics every 10 steps: 500 of them
        for line in lines:
            file.write(line)
            event = event_from_json(line)
            if isinstance(event, StepCompleted) and event.step % 10 == 0:
                stats = TrainingStats(
                    event.step,
                    (WeightStats("qkv", 0, 0.5, 3.0, -2.9),),
                    (LayerStats(0, 0.2, 0.01, 4.0),),
                    (HeadStats(0, 0, 1.5, 3.0),),
                    2.0,
                )
                file.write(stats.to_json() + "\n")
    events, _ = replayed(run, recent=1_000, older_points=400, recent_stats=100, older_stats=50)
    stats = [e.step for e in events if isinstance(e, TrainingStats)]
    assert len(stats) <= 100 + 50 and stats == sorted(stats)
    assert stats[-100:] == list(range(4_010, 5_001, 10))  # the recent, as they are
    older = stats[:-100]
    gaps = {b - a for a, b in zip(older, older[1:], strict=False)}
    assert len(older) >= 40 and len(gaps) == 1  # evenly
    assert [e.step for e in events if isinstance(e, EvalCompleted)] == list(range(250, 5_001, 250))
    everything, _ = replayed(run, recent=10**9)
    assert len([e for e in everything if isinstance(e, TrainingStats)]) == 500


def test_the_history_ends_where_the_client_says_its_past_ends(short_run, tmp_path):
    run = with_history(short_run, tmp_path, 300, "stopped")
    size = (run / EVENTS).stat().st_size
    with (run / EVENTS).open("a") as file:  # what a resumed worker wrote before its client looked
        file.write(StepCompleted(301, 1.0, 1e-3, 0.5, 1e4, 0.3, 19_264).to_json() + "\n")
    replay = Replay(run, history_bytes=size)
    batches = list(replay)
    past = b"".join(batches[: batches.index(None)]).splitlines()
    after = b"".join(b for b in batches[batches.index(None) + 1 :] if b).splitlines()
    assert event_from_json(past[-1]).kind == "finished" and len(past) == replay.events
    assert [event_from_json(line).step for line in after] == [301]
    assert replay.steps == 300


def test_the_state_is_read_from_the_end_of_a_history(short_run, tmp_path):
    assert last_state(with_history(short_run, tmp_path, 50, "completed")) is RunState.FINISHED
    assert last_state(with_history(short_run, tmp_path, 60, "stopped")) is RunState.STOPPED
    cut_off = with_history(short_run, tmp_path, 70, None)
    assert last_state(cut_off) is RunState.RUNNING  # the listing then says failed: no worker
    with (cut_off / EVENTS).open("ab") as file:
        file.write(b'{"kind":"finished","reason":"comp')  # a torn last line is not the end
    assert last_state(cut_off) is RunState.RUNNING


def test_a_finished_run_with_a_damaged_line_in_the_middle_attaches_headless(short_run, tmp_path):
    """Issue 24 (1): the client counted the file's lines as the history, the worker replayed only
    whole events, so the history never ended and attach --headless never returned."""
    run = tmp_path / "damaged"
    run.mkdir()
    for path in short_run.iterdir():
        if path.is_file():
            (run / path.name).write_bytes(path.read_bytes())
    lines = (run / EVENTS).read_bytes().splitlines(keepends=True)
    middle = len(lines) // 2
    (run / EVENTS).write_bytes(b"".join([*lines[:middle], bytes(range(0x80, 0x100)) + b"\n",
                                         *lines[middle:]]))  # fmt: skip
    done = cli("attach", str(run), "--headless", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"attached to {run} (finished) at step 20/20: best val ")
    assert "skipped 1 line(s) that are not whole events" in (run / "worker.log").read_text()


@pytest.mark.slow
def test_a_stopped_run_with_a_long_history_attaches_headless(short_run, tmp_path):
    """Issue 24 (3): the worker rebuilt its state from the whole history before it accepted
    clients, while its idle clock ran, and exited as idle before anyone connected."""
    run = with_history(short_run, tmp_path, 400_000, "stopped")
    done = cli("attach", str(run), "--headless", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    best = min(e["val_loss"] for e in map(json.loads, (run / EVENTS).open())
               if e["kind"] == "eval")  # fmt: skip
    assert done.stdout.splitlines()[0].startswith(
        f"attached to {run} (stopped) at step 400000/800000: best val {best:.4f}"
    )
    # The idle worker it started leaves once it is alone (engine/process/worker.py IDLE_EXIT_S).
    deadline = time.monotonic() + 60
    while (run / INFO_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (run / INFO_FILE).exists()


def test_a_client_sees_where_the_history_ends(short_run, tmp_path):
    from engine import EngineClient

    run = with_history(short_run, tmp_path, 2_000, "completed")
    with EngineClient.attach(run) as client:
        events = []
        for event in client.events():
            events.append(event)
            if isinstance(event, HistoryReplayed):
                break
    assert events[-1] == HistoryReplayed(events=len(events) - 1 - _progress(events), steps=2_000)
    assert [e.step for e in events if isinstance(e, StepCompleted)] == list(range(1, 2_001))


def _progress(events: list) -> int:
    return sum(isinstance(e, WIRE_ONLY) and not isinstance(e, HistoryReplayed) for e in events)


@pytest.mark.slow
def test_a_headless_run_whose_worker_dies_while_tokenising_ends_in_one_line(tmp_path):
    """Issue 24 (2): with no checkpoint yet, the failure line was built from None: a traceback."""
    corpus = tmp_path / "big.txt"
    with corpus.open("w") as file:
        for i in range(400_000):
            file.write(f"line {i} of a corpus big enough to take a while to read\n")
    env = environment(LLM_LEARNS_SYNC_CORPUS_BYTES="0")  # tokenise after listening, as a big one
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--headless", "--corpus", str(corpus), "--tokenizer",
         "word", "--run-dir", "run", "--steps", "5"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    info = None
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # connected: a pass's progress line
        passes = tuple(stage.label for stage in TokenizeStage)
        assert first.startswith(passes), first + process.communicate()[1]
        info = worker_info(tmp_path / "run")
        assert info is not None
        os.kill(info["pid"], signal.SIGKILL)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        if info and alive(info["pid"]):
            os.kill(info["pid"], signal.SIGKILL)
    assert process.returncode == 1, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "engine failed: the engine worker was killed (SIGKILL), likely out of memory"
    )
