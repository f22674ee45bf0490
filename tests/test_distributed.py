"""Training on two processes under torchrun (gloo, CPU): served, paused, stopped and failed as one.

The process tests share the work: one 2-rank run through the CLI is paused, served, resumed,
stopped and compared with one process; one more is killed a rank at a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from engine import EngineClient, EngineFailed, StepCompleted
from engine.contract.run_state import RunState
from engine.process import cpu_policy
from engine.runs.files import load_config
from engine.runs.liveness import worker_info
from engine.training.distributed import Group
from engine.training.trainer import Trainer, train
from tests.conftest import PATIENCE_S, alive, tiny_config
from tests.test_cli import (
    ENV,
    no_orphans,  # noqa: F401 - the CLI tests' clean-up, for start_cli
    read_line,
    run_cli,
    start_cli,
    tiny_run,
    wait_for_steps,
)
from tui.cli import main as tui_main

# Same rows, same initial weights: two ranks differ from one process only in the order floats
# are summed (gloo adds two half-batch gradients), about 1e-7 on a loss; over ~100 AdamW steps
# that measured under 1e-6. 1e-4 leaves room for other CPUs' kernels and is still far below
# what a wrong split would give (another batch's loss differs by ~1e-2 at the first step).
LOSS_TOLERANCE = 1e-4
COMPARED = 60  # steps of the curves compared


def rank_pids(agent: int) -> dict[int, int]:
    """The agent's workers by rank, read from their environments."""
    ranks = {}
    for task in os.listdir(f"/proc/{agent}/task"):
        for pid in Path(f"/proc/{agent}/task/{task}/children").read_text().split():
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            rank = next(item for item in environ if item.startswith(b"RANK="))
            ranks[int(rank[5:])] = int(pid)
    return ranks


def wait_gone(pids: list[int], timeout: float = PATIENCE_S) -> list[int]:
    """The pids still alive after waiting up to timeout for them to end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


@pytest.fixture
def no_stray_ranks():
    """Whatever a test leaves running (a failed assertion), killed: ranks have their own session."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def one_process_losses(config, steps: int) -> dict[int, float]:
    """The first steps' losses of the same run in this process, on one thread as a worker
    would train it (two threads on a loaded 2-core box take 50 times as long)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    losses: dict[int, float] = {}
    try:
        for event in train(config):
            if isinstance(event, StepCompleted):
                losses[event.step] = event.loss
            if len(losses) == steps:
                return losses
    finally:
        torch.set_num_threads(threads)
    return losses


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--nproc-per-node", "0"], "argument --nproc-per-node: 0 must be at least 1"),
        (["--nproc-per-node", "-1"], "argument --nproc-per-node: -1 must be at least 1"),
        (["--nproc-per-node", "two"], "argument --nproc-per-node: invalid int value: 'two'"),
        (["--nproc-per-node", ""], "argument --nproc-per-node: invalid int value: ''"),
        (["--nproc-per-node", "1.5"], "argument --nproc-per-node: invalid int value: '1.5'"),
        (["--nproc-per-node", "3", "--batch-size", "8"], "batch_size 8 does not split over 3"),
        (["--nproc-per-node", str(10**30)], f"batch_size 16 does not split over {10**30}"),
        (["--nproc-per-node", "2", "--device", "cuda"], "asks for one GPU each, but 1 is visible"),
        (["--nproc-per-node", "2", "--device", "mps"], "MPS has no DDP backend"),
        (
            ["--nproc-per-node", "8", "--device", "cpu"],
            "takes a core each, but this machine gives 4",
        ),
        (["--resume", "stored", "--nproc-per-node", "3"], "batch_size 16 does not split over 3"),
        (["attach", "stored", "--nproc-per-node", "2"], "unrecognized arguments: --nproc-per-node"),
    ],
)
def test_a_process_count_that_cannot_work_is_refused_in_one_line(
    flags, message, corpus, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr("engine.process.launch.count_gpus", lambda: 1)
    monkeypatch.setattr("engine.process.launch.count_cores", lambda: 4)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stored").mkdir()
    (tmp_path / "stored" / "config.json").write_text(load_config_text(corpus))
    argv = flags if flags[0] == "attach" else ["--headless", "--corpus", str(corpus), *flags]
    if "--resume" in flags:
        argv = ["--headless", *flags]
    try:
        code = tui_main(argv)
    except SystemExit as exit:  # argparse's own refusal
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == ["corpus.txt", "stored"]  # nothing written


def load_config_text(corpus: Path) -> str:
    """A stored run's config.json: the seed preset (batch 16) on the test corpus."""
    from engine import preset

    return preset("seed").with_overrides({"data": {"corpus": str(corpus)}}).to_json()


@pytest.mark.slow
def test_two_ranks_train_serve_pause_and_stop_as_one_process(
    tmp_path, corpus, no_stray_ranks, monkeypatch
):
    # A cache of its own: the corpus is new to it, so rank 0 tokenises while rank 1 waits.
    monkeypatch.setitem(ENV, "XDG_CACHE_HOME", str(tmp_path / "cache"))
    flags = ["--eval-every", "40", "--eval-batches", "2", "--log-every", "1", "--detach"]
    started = run_cli(*tiny_run(corpus, 100_000, *flags, "--nproc-per-node", "2"), cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    run = tmp_path / "run"
    agent = worker_info(run)["pid"]  # the run's process is torchrun's agent: stop waits for it
    ranks = rank_pids(agent)
    no_stray_ranks.extend([agent, *ranks.values()])
    assert b"torch.distributed.run" in Path(f"/proc/{agent}/cmdline").read_bytes()
    assert sorted(ranks) == [0, 1]
    assert wait_for_steps(run, COMPARED // 2) >= COMPARED // 2

    # A pause reaches every rank: nothing trains while rank 0 serves requests.
    client = EngineClient(run)
    client.pause()
    paused = client.status()
    assert paused.state is RunState.PAUSED
    steps = wait_for_steps(run, 0)
    assert client.attention("oh my love").shape[:2] == (2, 2)
    assert len(list(client.generate("oh"))) == load_config(run).sample.max_new_tokens
    time.sleep(1.5)  # past a heartbeat: the followers wait, they neither train nor time out
    assert client.status().step == paused.step and wait_for_steps(run, 0) == steps
    assert all(alive(pid) for pid in no_stray_ranks)
    follower = start_cli("attach", "run", "--headless", cwd=tmp_path)
    line = read_line(follower)
    assert line.startswith(f"attached to run (paused) at step {paused.step}"), line
    os.killpg(follower.pid, signal.SIGINT)
    follower.communicate(timeout=PATIENCE_S)
    client.resume()
    assert wait_for_steps(run, max(steps + 10, COMPARED)) >= max(steps + 10, COMPARED)
    client.close()

    stopped = run_cli("stop", "run", cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("run: stopped at step ")
    assert [pid for pid in no_stray_ranks if alive(pid)] == []  # stop waited for the agent

    cached = sorted(p.suffix for p in (tmp_path / "cache" / "llm-learns" / "tokens").iterdir())
    assert cached == [".json", ".json", ".tokens"]  # one entry and its tokenizer, no lock or temp

    # One events.jsonl, written by rank 0 alone: one start, every step once, in order.
    assert [p.name for p in run.rglob("*.jsonl")] == ["events.jsonl"]
    events = [json.loads(line) for line in (run / "events.jsonl").open()]
    assert [e["kind"] for e in events].count("training_started") == 1
    logged = [e["step"] for e in events if e["kind"] == "step"]
    assert logged == list(range(1, len(logged) + 1)) and events[-1]["kind"] == "finished"

    # The curve is one process's with the same global batch and seed (over its first steps,
    # the pause among them).
    two = {e["step"]: e["loss"] for e in events if e["kind"] == "step" and e["step"] <= COMPARED}
    one = one_process_losses(load_config(run), COMPARED)
    assert len(two) == COMPARED
    assert max(abs(one[step] - two[step]) for step in two) < LOSS_TOLERANCE


@pytest.mark.slow
def test_a_rank_that_dies_ends_the_run_at_once_naming_it(tmp_path, corpus, no_stray_ranks):
    config = tiny_config(corpus, max_steps=100_000, eval_every=20, log_every=1)
    client = EngineClient.start(config, tmp_path / "run", nproc=2)
    ranks = rank_pids(client.pid)
    no_stray_ranks.extend([client.pid, *ranks.values()])
    killed = False
    failed = None
    for event in client.events():
        if isinstance(event, StepCompleted) and event.step == 50 and not killed:
            os.kill(ranks[1], signal.SIGKILL)
            killed = True
        if isinstance(event, EngineFailed):
            failed = event
            break
    client.close()
    # Rank 0 itself noticed and said which rank (not torchrun tearing it down, nor a collective
    # timing out after TIMEOUT): that is what "at once" means, whatever the machine's load.
    assert failed is not None and failed.reason.startswith("rank 1 of 2"), failed
    assert wait_gone(no_stray_ranks) == []
    # The last checkpoint (step 40) is whole: the run resumes from it.
    assert Trainer.resume(tmp_path / "run").step == 40


def test_the_watchdog_ends_the_run_when_the_main_thread_is_stuck(no_stray_ranks):
    """An NCCL collective waiting on a dead rank blocks: rank 0's watchdog fails the run itself,
    unless the main thread took the failure in hand within the grace."""

    def group_watching(pid: int, fail, grace_s: float) -> Group:
        group = Group.__new__(Group)  # no torchrun here: only what the watchdog reads
        group.peers, group.world, group._noticed = {1: pid}, 2, threading.Event()
        group.watch(fail, grace_s)
        return group

    stuck: list[str] = []
    quiet: list[str] = []
    peers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])]
    peers.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))
    no_stray_ranks.extend(peer.pid for peer in peers)
    group_watching(peers[0].pid, stuck.append, grace_s=0.3)
    # The grace only has to outlast this thread's explain() below, however loaded the machine.
    noticed = group_watching(peers[1].pid, quiet.append, grace_s=PATIENCE_S)
    for peer in peers:
        peer.kill()
        peer.wait()
    assert noticed.explain(RuntimeError("gloo: connection reset"), str).startswith("rank 1 of 2")
    for watchdog in [t for t in threading.enumerate() if t.name == "rank-watchdog"]:
        watchdog.join(PATIENCE_S)  # each ends: by failing the run, or seeing it taken in hand
    assert stuck == [f"rank 1 of 2 (pid {peers[0].pid}) died; training ended"] and quiet == []


def test_ranks_on_one_machine_share_its_cores():
    cores = os.cpu_count() or 1
    assert cpu_policy.choose(44_000, env={}, ranks=2).threads == 1  # small: one thread anyway
    assert cpu_policy.choose(800_000, env={}, ranks=2).threads == max(1, cores // 2)
    assert cpu_policy.choose(800_000, env={}, ranks=cores * 2).threads == 1
    assert cpu_policy.choose(800_000, env={}).threads is None  # alone: torch's default
