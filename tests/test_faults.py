"""Faults in the run directory and the machine: torn logs, failed writes, memory, file modes,
socket folders and stale keys. Each ends in one line for the user, nothing torn and no orphan."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from engine import (
    CheckpointSaved,
    ConfigError,
    EngineError,
    EngineFailed,
    ModelConfig,
    StepCompleted,
    Trainer,
    TrainingFinished,
    event_from_json,
    read_events,
)
from engine.contract.errors import WriteError
from engine.contract.events import WIRE_ONLY, EvalCompleted, FinishReason
from engine.process import channel
from engine.process.client import EngineClient, _death_reason
from engine.process.worker import failure_reason
from engine.runs import files as run_files
from engine.runs.files import EVENTS, EventLog, atomic_write
from engine.runs.history import Replay
from engine.training import memory
from tests.conftest import PATIENCE_S, tiny_config
from tests.test_cli import run_cli, tiny_run

ROOT = Path(__file__).resolve().parent.parent
TORN = b'{"kind":"step","step":99,"lo'


@pytest.fixture
def socket_root(monkeypatch):
    """A private TMPDIR, so socket folders (ours and those of workers we start) can be counted.
    Short, under /tmp: a socket's path must fit in 107 bytes, and pytest's tmp_path (longer still
    under pytest-xdist) leaves too little room."""
    root = Path(tempfile.mkdtemp(prefix="ll-", dir="/tmp"))
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _finished_run(corpus, run_dir: Path, steps: int = 6) -> None:
    trainer = Trainer.create(tiny_config(corpus, max_steps=steps, eval_every=steps), run_dir)
    list(trainer.events())
    trainer.close()


def _lines_are_events(path: Path) -> list:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [event_from_json(line) for line in data.splitlines()]


# -- torn events.jsonl --------------------------------------------------------------------------


def test_reopening_the_log_cuts_a_torn_last_line_with_a_warning(corpus, tmp_path, caplog):
    run = tmp_path / "run"
    _finished_run(corpus, run)
    events = list(read_events(run))
    with (run / EVENTS).open("ab") as file:
        file.write(TORN)
    assert list(read_events(run)) == events  # readers leave the torn line out
    log = EventLog(run)
    log.append(TrainingFinished(FinishReason.STOPPED, 6))
    log.close()
    assert "dropped a torn last line (28 bytes)" in caplog.text
    assert _lines_are_events(run / EVENTS) == [*events, TrainingFinished(FinishReason.STOPPED, 6)]


def test_replay_leaves_out_torn_and_glued_lines(tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    good = [StepCompleted(i, 1.0, 0.1, 0.5, 100.0, 0.1, 8 * i).to_json().encode() for i in (1, 2)]
    (run / EVENTS).write_bytes(
        good[0] + b"\n" + TORN + good[1] + b"\n" + b"{" + good[1] + b"\n" + good[1] + b"\n" + TORN
    )  # a torn line that a later append was glued onto (as older versions did), twice
    replayed = b"".join(batch for batch in Replay(run) if batch is not None).splitlines()
    assert replayed == [good[0], good[1]]
    assert [e.step for e in read_events(run)] == [1, 2]
    assert "skipped 2 line(s) that are not whole events" in caplog.text


@pytest.mark.slow
def test_a_run_with_a_torn_last_line_resumes_and_replays_cleanly(corpus, tmp_path, workers):
    run = tmp_path / "run"
    _finished_run(corpus, run)
    with (run / EVENTS).open("ab") as file:
        file.write(TORN)
    client = EngineClient.resume_run(run, {"train": {"max_steps": 12}})
    workers.append(client.pid)
    seen = []
    with client:
        for event in client.events():
            seen.append(event)
            if isinstance(event, TrainingFinished) and event.step == 12:
                break
    assert not any(isinstance(e, EngineFailed) for e in seen)
    assert [e.step for e in seen if isinstance(e, StepCompleted)] == list(range(1, 13))
    logged = _lines_are_events(run / EVENTS)
    assert logged == [e for e in seen if not isinstance(e, WIRE_ONLY)]
    assert "dropped a torn last line" in (run / "worker.log").read_text()


# -- failed writes --------------------------------------------------------------------------------


def test_a_failed_append_leaves_no_torn_line_and_says_why(tmp_path, monkeypatch):
    log = EventLog(tmp_path)
    log.append(EvalCompleted(0, 4.0, 4.1))
    before = (tmp_path / EVENTS).read_bytes()
    real_write = os.write
    calls = []

    def short_then_full(fd, data):  # half the line lands, then the disk is full
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(run_files.os, "write", short_then_full)
    with pytest.raises(WriteError) as caught:
        log.append(EvalCompleted(1, 3.0, 3.1))
    monkeypatch.undo()
    assert str(caught.value) == f"cannot write {tmp_path / EVENTS}: No space left on device"
    assert (tmp_path / EVENTS).read_bytes() == before
    log.append(EvalCompleted(2, 2.0, 2.1))
    log.close()
    assert [e.step for e in _lines_are_events(tmp_path / EVENTS)] == [0, 2]


def test_a_failed_checkpoint_write_keeps_the_old_file_and_says_why(tmp_path):
    from safetensors import SafetensorError

    target = tmp_path / "model.safetensors"
    target.write_bytes(b"good")

    def disk_full(temp: str) -> None:
        Path(temp).write_bytes(b"half")
        raise SafetensorError("Error while serializing: I/O error: No space left (os error 28)")

    with pytest.raises(WriteError, match=r"cannot write .*model.safetensors: No space left on dev"):
        atomic_write(target, disk_full)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temp file left


@pytest.mark.slow
@pytest.mark.parametrize(
    ("eval_every", "failed"),
    [
        ("100000", "events.jsonl: File too large; last checkpoint: run/model.safetensors"),
        ("20", "optimizer.safetensors: File too large; last checkpoint: run/model.safetensors"),
    ],
    ids=["log", "checkpoint"],
)
def test_a_file_size_limit_ends_the_run_with_the_reason(corpus, tmp_path, eval_every, failed):
    """Under `ulimit -f` the log outgrows the limit in about 75 steps, or the checkpoint at step
    20 does (AdamW's state makes it 29 KB): one line naming the file and why, and no torn line."""

    def limited() -> None:  # Python ignores SIGXFSZ, so the write fails with EFBIG instead
        limit = 14_000  # above every file at step 0 (the largest, 11 KB)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = tiny_run(corpus, 1_000_000, "--eval-every", eval_every, "--n-embd", "8")
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=PATIENCE_S,
        preexec_fn=limited,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"engine failed: cannot write run/{failed}"]
    assert _lines_are_events(tmp_path / "run" / EVENTS)
    assert not (tmp_path / "run" / run_files.INFO_FILE).exists()  # the worker ended


def test_a_write_that_fails_at_start_is_one_line_and_exit_2(corpus, tmp_path):
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (500, 500))  # config.json is about 900 bytes

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", *tiny_run(corpus, 10)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=PATIENCE_S,
        preexec_fn=limited,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == "llmlearns-tui: error: cannot write run/config.json: File too large\n"
    assert not (tmp_path / "run" / "config.json").exists()
    assert "cannot write run/config.json" in (tmp_path / "run" / "worker.log").read_text()


# -- memory ---------------------------------------------------------------------------------------


def test_a_batch_that_cannot_fit_is_refused_with_the_estimate(tmp_path, corpus):
    config = tiny_config(corpus, batch_size=10**9)
    with pytest.raises(ConfigError) as caught:
        Trainer.create(config, tmp_path / "run")
    message = str(caught.value)
    assert message.startswith("not enough memory: training needs about ")
    assert " TB (estimated) but " in message and "free on cpu; lower batch_size" in message
    assert not (tmp_path / "run").exists()


def test_the_estimate_is_checked_against_what_is_free(monkeypatch, tiny):
    import torch

    model = ModelConfig(block_size=64, n_layer=4, n_head=4, n_embd=128, vocab_size=65)
    need = memory.estimate_bytes(model, 12)
    assert 100 << 20 < need < 400 << 20  # char-small measured about 110 MB of peak RSS
    monkeypatch.setattr(memory, "available_bytes", lambda device: need - 1)
    with pytest.raises(ConfigError, match="lower batch_size or block_size"):
        memory.check_fits(model, 12, torch.device("cpu"))
    monkeypatch.setattr(memory, "available_bytes", lambda device: need)
    memory.check_fits(model, 12, torch.device("cpu"))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_cgroup_memory_limit_counts(tmp_path, monkeypatch, version):
    root = tmp_path / "cgroup"
    if version == "v2":
        folder, proc = root / "app", "0::/app\n"
        files = {"memory.max": "1073741824", "memory.current": str(600 << 20)}
        files["memory.stat"] = f"anon 1\ninactive_file {100 << 20}\n"
    else:
        folder, proc = root / "memory" / "app", "4:memory:/app\n0::/\n"
        files = {"memory.limit_in_bytes": "1073741824", "memory.usage_in_bytes": str(600 << 20)}
        files["memory.stat"] = f"total_inactive_file {100 << 20}\n"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    (tmp_path / "proc").write_text(proc)
    monkeypatch.setattr(memory, "PROC_CGROUP", tmp_path / "proc")
    assert memory.cgroup_available(root) == (1 << 30) - (500 << 20)
    (folder / ("memory.max" if version == "v2" else "memory.limit_in_bytes")).write_text(
        "max" if version == "v2" else str(2**63 - 4096)
    )
    assert memory.cgroup_available(root) is None


def test_out_of_memory_reaches_the_user_as_that():
    import torch

    cpu = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
        "memory: you tried to allocate 400000000000000 bytes. Error code 12"
    )
    for error in (cpu, MemoryError(), torch.OutOfMemoryError("CUDA out of memory. Tried 2 GiB")):
        assert failure_reason(error).startswith("out of memory; lower batch_size, ")
    assert "you tried to allocate 400000000000000 bytes" in failure_reason(cpu)
    assert failure_reason(ValueError("x")) == "ValueError: x"
    assert "killed (SIGKILL), likely out of memory" in _death_reason(-signal.SIGKILL)
    assert _death_reason(-signal.SIGTERM) == "the engine worker was killed (SIGTERM)"


@pytest.mark.parametrize(
    ("args", "lower"),
    [
        (["--batch-size", "1000000000"], "lower batch_size or block_size"),
        (["--n-embd", "262144", "--n-head", "2"], "lower n_embd or n_layer"),
    ],
)
def test_the_cli_refuses_what_cannot_fit_before_writing_anything(tmp_path, corpus, args, lower):
    result = run_cli(*tiny_run(corpus, 10), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not enough memory: training needs about" in result.stderr and lower in result.stderr
    assert not (tmp_path / "run").exists()


# -- bad corpus and flags on the command line -----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "args", "message"),
    [
        (b" \n\t\n" * 20, [], "has no text, only whitespace"),
        (b"oh my love\x00\n" * 20, [], "holds a NUL byte (\\x00) at offset 10"),
        (b"oh my love\n" * 20, ["--tokenizer", "bpe", "--bpe-vocab-size", "100"],
         "bpe_vocab_size 100 must be between 256 and 65536"),
    ],
    ids=["whitespace", "nul", "bpe-vocab"],
)  # fmt: skip
def test_a_bad_corpus_or_vocabulary_is_one_line_and_exit_2(tmp_path, data, args, message):
    (tmp_path / "c.txt").write_bytes(data)
    result = run_cli("--headless", "--corpus", "c.txt", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "\x00" not in result.stderr
    assert not (tmp_path / "runs").exists()


# -- resume that cannot apply ---------------------------------------------------------------------


def test_model_and_vocabulary_options_cannot_apply_on_resume(corpus, tmp_path):
    stored = Trainer.create(tiny_config(corpus)).config
    with pytest.raises(ConfigError) as caught:
        stored.for_resume({"model": {"n_layer": 4, "n_embd": 64}, "data": {"tokenizer": "char"}})
    assert str(caught.value).startswith(
        "--n-layer 4, --n-embd 64, --tokenizer char cannot apply on resume"
    )
    with pytest.raises(ConfigError, match="--corpus other.txt"):
        stored.for_resume({"data": {"corpus": "other.txt"}})
    same = {"model": {"n_layer": 2, "dropout": 0.1}, "data": {"corpus": str(corpus)}}
    resumed = stored.for_resume({**same, "train": {"max_steps": 99, "lr": 2e-3}})
    assert resumed.train.max_steps == 99 and resumed.model.dropout == 0.1


def test_resume_refuses_model_flags_in_one_line(corpus, tmp_path, workers):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(Trainer.create(tiny_config(corpus)).config.to_json())
    result = run_cli("--headless", "--resume", "run", "--n-layer", "4", "--block-size", "32",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "llmlearns-tui: error: --block-size 32, --n-layer 4 cannot apply on resume: the "
        "checkpoint fixes its model, optimizer and vocabulary (start a new run to change them)"
    ]
    with pytest.raises(ConfigError, match="--n-head 4 cannot apply on resume"):
        Trainer.resume(run, {"model": {"n_head": 4}})


# -- file modes -----------------------------------------------------------------------------------


def _modes(run: Path) -> dict[str, int]:
    """Every path of the run (itself included) and its mode; the expected: 0700 and 0600."""
    paths = [run, *run.rglob("*")]
    return {str(p.relative_to(run.parent)): stat.S_IMODE(p.stat().st_mode) for p in paths}


def _not_private(run: Path) -> dict[str, str]:
    return {
        name: oct(mode)
        for name, mode in _modes(run).items()
        if mode != (0o700 if (run.parent / name).is_dir() else 0o600)
    }


@pytest.mark.slow
def test_every_file_of_a_finished_run_is_owner_only(corpus, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", *tiny_run(corpus, 4, "--eval-every", "2")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=PATIENCE_S,
        preexec_fn=lambda: os.umask(0o022),  # a usual umask: the run must not depend on it
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = {Path(name).name for name in _modes(tmp_path / "run")}
    assert {"events.jsonl", "worker.log", "config.json", "tokenizer.json", "attention"} <= names
    assert {"model.safetensors", "optimizer.safetensors", "step-00000002.attn"} <= names
    assert _not_private(tmp_path / "run") == {}


def test_a_run_from_a_script_is_owner_only_too(corpus, tmp_path):
    old = os.umask(0o022)
    try:
        _finished_run(corpus, tmp_path / "run", steps=2)
    finally:
        os.umask(old)
    assert len(_modes(tmp_path / "run")) >= 7
    assert _not_private(tmp_path / "run") == {}


# -- socket folders and stale keys ----------------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_stale_socket_folders_are_removed_and_live_ones_kept(tmp_path):
    dead, mine = _dead_pid(), os.getpid()
    names = [f"llmlearns-{dead}-abc", f"llmlearns-{mine}-def", "llmlearns-xyz", "other"]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "worker.sock").write_text("")
    (tmp_path / f"llmlearns-{dead}-file").write_text("not a folder")
    removed = channel.clean_stale(str(tmp_path))
    assert removed == [str(tmp_path / names[0])]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[1:], f"llmlearns-{dead}-file"]
    )


def test_a_listener_that_fails_to_publish_leaves_no_folder(tmp_path, socket_root, monkeypatch):
    real = channel._write_private

    def no_info(path, data):
        if path.name == run_files.INFO_FILE:
            raise WriteError(f"cannot write {path}: No space left on device")
        real(path, data)

    monkeypatch.setattr(channel, "_write_private", no_info)
    with pytest.raises(WriteError):
        channel.listen(tmp_path, detached=False)
    assert list(socket_root.iterdir()) == []


def _wait_for_steps(run: Path, count: int, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run / EVENTS).exists() and (run / EVENTS).read_text().count('"kind":"step"') >= count:
            return
        time.sleep(0.05)
    raise AssertionError("the run made no progress")


@pytest.mark.slow
def test_sigterm_checkpoints_and_removes_the_socket_folder(corpus, tmp_path, socket_root, workers):
    run = tmp_path / "run"
    config = tiny_config(corpus, max_steps=1_000_000, eval_every=100_000)
    client = EngineClient.start(config, run, detach=True)
    workers.append(client.pid)
    folder = Path(channel.worker_info(run)["address"]).parent
    assert folder.parent == socket_root and folder.name.startswith(f"llmlearns-{client.pid}-")
    _wait_for_steps(run, 3)
    os.kill(client.pid, signal.SIGTERM)
    client._process.wait(timeout=PATIENCE_S)
    client.close()
    assert not folder.exists() and list(socket_root.iterdir()) == []
    assert not (run / channel.KEY_FILE).exists() and not (run / run_files.INFO_FILE).exists()
    assert isinstance(list(read_events(run))[-2], CheckpointSaved)


@pytest.mark.slow
def test_a_stale_key_from_a_killed_worker_is_recovered_by_attach(
    corpus, tmp_path, socket_root, workers
):
    run = tmp_path / "run"
    config = tiny_config(corpus, max_steps=1_000_000, eval_every=100_000)
    client = EngineClient.start(config, run, detach=True)
    workers.append(client.pid)
    stale = Path(channel.worker_info(run)["address"]).parent
    _wait_for_steps(run, 3)
    os.kill(client.pid, signal.SIGKILL)
    client._process.wait(timeout=PATIENCE_S)
    client.close()
    assert (run / channel.KEY_FILE).exists() and stale.exists()  # what SIGKILL leaves behind

    with pytest.raises(EngineError) as caught:  # connecting to it: one line, at once
        EngineClient(run)
    assert str(caught.value).startswith(f"no worker is running for {run} (")
    stopped = run_cli("stop", "run", cwd=tmp_path)
    assert stopped.returncode == 2
    assert stopped.stderr == "llmlearns-tui: error: no worker is running for run\n"

    with EngineClient.attach(run) as attached:  # an idle worker loads the last checkpoint
        workers.append(attached.pid)
        assert json.loads((run / run_files.INFO_FILE).read_text())["pid"] == attached.pid
        status = attached.status()
        assert status.state in ("stopped", "failed") and status.step == 0
        assert not stale.exists()  # the new worker removed the dead one's socket folder
        assert len(list(attached.generate("oh"))) == 8
