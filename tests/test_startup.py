"""A quick start: training without torch._dynamo gives the same steps, and the TUI's early
connection never leaves a worker behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PATIENCE_S, tiny_config
from tui.cli import EarlyConnection

ROOT = Path(__file__).resolve().parent.parent

TRAIN_AND_REPORT = """
import json, sys
from pathlib import Path
from engine import RunConfig, StepCompleted, Trainer
config = RunConfig.from_json(sys.argv[1])
trainer = Trainer.create(config, Path(sys.argv[2]))
losses = [e.loss for e in trainer.events() if isinstance(e, StepCompleted)]
state = trainer.optimizer.state_dict()  # the wrapped state_dict and load_state_dict
trainer.optimizer.load_state_dict(state)
trainer.close()
print(json.dumps({"losses": losses, "dynamo": "torch._dynamo" in sys.modules}))
"""


def _train(config, run_dir: Path, *, with_dynamo: bool) -> dict:
    script = ("import torch._dynamo\n" if with_dynamo else "") + TRAIN_AND_REPORT
    out = subprocess.run(
        [sys.executable, "-c", script, config.to_json(), str(run_dir)],
        capture_output=True,
        text=True,
        timeout=PATIENCE_S,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "", "OMP_NUM_THREADS": "1"},  # as a worker: 1 thread
        check=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


def test_training_without_dynamo_takes_the_same_steps(corpus, tmp_path):
    config = tiny_config(corpus, max_steps=12, eval_every=6)
    plain = _train(config, tmp_path / "plain", with_dynamo=False)
    usual = _train(config, tmp_path / "usual", with_dynamo=True)
    assert plain["dynamo"] is False  # the start-up second it saves
    assert usual["dynamo"] is True  # torch's own path, through its wrappers
    assert plain["losses"] == usual["losses"] and len(plain["losses"]) == 12


class FakeClient:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_an_early_connection_the_app_never_took_is_closed():
    client = FakeClient()
    early = EarlyConnection(lambda: client)
    early.release()  # the app quit before it connected
    assert client.closed


def test_an_early_connection_hands_over_its_client_and_its_error():
    client = FakeClient()
    early = EarlyConnection(lambda: client)
    assert early() is client
    assert not client.closed  # the app's now, until the app has ended
    # The app quit as its Connected message was on the way, and so never let go of the client
    # (the run used to keep training): once the app has ended, release lets go of it.
    early.release()
    assert client.closed

    def refuse():
        raise ValueError("no such corpus")

    with pytest.raises(ValueError, match="no such corpus"):
        EarlyConnection(refuse)()
