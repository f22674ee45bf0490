"""The command line as a user meets it: real processes, real exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tiny_run(corpus: Path, steps: int, *extra: str) -> list[str]:
    """Flags for a short headless run on the test corpus, into ./run."""
    return ["--headless", "--corpus", str(corpus), "--block-size", "8", "--steps", str(steps),
            "--run-dir", "run", *extra]  # fmt: skip


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corpus", "missing.txt"], "corpus missing.txt does not exist"),
        (["--corpus", "empty.txt"], "corpus empty.txt is empty"),
        (["--corpus", "latin1.txt"], "is not UTF-8 text (bad byte at offset 3)"),
        (["--corpus", "short.txt"], "has 3 word tokens; with block_size 6 it needs at least"),
        (["--n-embd", "30", "--n-head", "4"], "n_embd 30 is not divisible by n_head 4"),
        (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
        (["--steps", "0", "--dropout", "2"], "max_steps 0 must be at least 1"),
        (["--tokenizer", "morse"], "tokenizer 'morse' is not one of word, char, bpe"),
        (["--resume", "nowhere"], "nowhere/config.json is missing"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("café olé".encode("latin-1"))
    (tmp_path / "short.txt").write_text("oh my love")
    result = run_cli("--headless", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing written


def test_headless_run_prints_progress_then_the_sample(tmp_path, corpus):
    result = run_cli(*tiny_run(corpus, 40, "--eval-every", "20"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    progress = [line for line in lines if line.startswith("step")]
    assert len(progress) == 2 and progress[-1].startswith("step 40/40 | loss ")
    assert "tok/s" in progress[0] and "ETA" in progress[0] and "val " in progress[0]
    assert "sample at step 40:" in result.stdout
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_json_mode_prints_one_event_per_line(tmp_path, corpus):
    result = run_cli(*tiny_run(corpus, 5, "--json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    kinds = [json.loads(line)["kind"] for line in result.stdout.splitlines()]
    assert kinds[0] == "training_started" and kinds[-1] == "finished"
    assert kinds.count("step") == 5


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path, corpus):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *tiny_run(corpus, 1_000_000, "--eval-every", "100000")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job has
    )
    events = tmp_path / "run" / "events.jsonl"
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline and events.read_text().count('"step"') < 20
        if events.exists()
        else time.monotonic() < deadline
    ):
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    last = [json.loads(line) for line in events.read_text().splitlines()][-2:]
    assert last[0]["kind"] == "checkpoint" and last[1]["kind"] == "finished"
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_runs_lists_state_step_and_best_val(tmp_path, corpus):
    run_cli(*tiny_run(corpus, 10, "--eval-every", "5", "--run-dir", "runs/first"), cwd=tmp_path)
    result = run_cli("runs", cwd=tmp_path)
    assert result.returncode == 0
    row = result.stdout.splitlines()[1].split()
    assert row[:3] == ["runs/first", "finished", "10/10"]
    assert float(row[3]) > 0


def test_engine_does_not_import_textual():
    code = (
        "import sys, engine, engine.cli, engine.client, engine.train; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_detach_then_stop_leaves_a_stopped_run_with_a_checkpoint(tmp_path, corpus):
    started = run_cli(*tiny_run(corpus, 1_000_000, "--eval-every", "100000", "--detach"),
                      cwd=tmp_path)  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "run"
    events = tmp_path / "run" / "events.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and events.read_text().count('"kind":"step"') < 5:
        time.sleep(0.1)
    stopped = run_cli("stop", "run", cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("run: stopped at step ")
    assert json.loads(events.read_text().splitlines()[-1])["kind"] == "finished"
    again = run_cli("stop", "run", cwd=tmp_path)
    assert again.returncode == 2 and "no worker is running for run" in again.stderr
