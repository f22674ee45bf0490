"""Shared fixtures: tiny configs and corpora so engine tests run in seconds on a CPU."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import settings

from engine import DataConfig, ModelConfig, RunConfig, SampleConfig, TrainConfig

# The longest a test waits for an event, a state or a process it expects. It bounds a hang, it is
# no margin: a passing test waits only as long as the thing takes, and a loaded 2-core CI machine
# (issue 20: beside two trainings) must never come near it. Never assert that something was fast.
PATIENCE_S = 300.0
SONG = (
    "oh my love, you shine like the morning sun\n"
    "oh baby, i will wait for you by the river\n"
    "my heart sings when you call my name\n"
    "and the night is warm when you are near\n"
)


@pytest.fixture(autouse=True, scope="session")
def _token_cache(tmp_path_factory) -> None:
    """Token caches go to a temp folder, never the user's ~/.cache; workers inherit it."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Tiny models train in this process on one thread, as a worker trains them: two threads on
    a loaded 2-core machine take many times as long (engine/process/cpu_policy.py)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(SONG * 12, encoding="utf-8")
    return path


def tiny_config(corpus: Path, tokenizer: str = "word", **train) -> RunConfig:
    """A two-layer, 32-wide model with a 16-token context: trains a step in about a millisecond."""
    return RunConfig(
        preset="tiny",
        data=DataConfig(corpus=str(corpus), tokenizer=tokenizer, bpe_vocab_size=300),
        model=ModelConfig(block_size=16, n_layer=2, n_head=2, n_embd=32),
        train=TrainConfig(
            **{
                "max_steps": 30,
                "batch_size": 8,
                "eval_every": 10,
                "eval_batches": 2,
                "device": "cpu",
                **train,
            }
        ),
        sample=SampleConfig(prompt="oh", max_new_tokens=8),
    )


@pytest.fixture
def tiny(corpus: Path) -> RunConfig:
    return tiny_config(corpus)


def alive(pid: int) -> bool:
    """Whether a process still runs; a zombie is dead for our purposes."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def workers():
    """Worker pids started by a test; each must have exited by its end (killed if not)."""
    pids: list[int] = []
    yield pids
    deadline = time.monotonic() + PATIENCE_S
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    leftovers = [pid for pid in pids if alive(pid)]
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"worker processes left behind: {leftovers}"


# Property tests (tests/test_fuzz.py): few, derandomized examples and no deadline by default, so
# the suite is fast and stable on a loaded 2-core machine; HYPOTHESIS_PROFILE=fuzz searches wider.
settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.register_profile("fuzz", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def as_a_terminal_job() -> None:
    """A child's preexec_fn: SIGINT back to its default. A suite started in the background (`cmd &`
    without job control, nohup) hands its children SIGINT ignored, and Python keeps an ignored
    SIGINT ignored, so the Ctrl+C a test sends would not reach the CLI."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
