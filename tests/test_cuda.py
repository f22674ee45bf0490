"""CUDA checks for a GPU box: bf16 training, exact resume, the KV cache and the worker on the GPU.

Skipped where torch sees no CUDA device, as on CI. On a GPU machine: `pytest tests/test_cuda.py`.
"""

from __future__ import annotations

import math

import pytest
import torch

from engine import SampleConfig, StepCompleted, TrainingFinished, TrainingStarted
from engine.client import EngineClient
from engine.generate import sample_ids
from engine.train import Trainer
from tests.conftest import tiny_config
from tests.test_worker import Follower

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_trains_in_bf16_on_cuda_and_resumes_where_it_stopped(corpus, tmp_path):
    config = tiny_config(corpus, device="cuda", max_steps=60, lr=3e-3)
    trainer = Trainer.create(config, tmp_path / "run")
    events = []
    for event in trainer.events():
        events.append(event)
        if isinstance(event, StepCompleted) and event.step == 40:
            trainer.control.stop = True
    trainer.close()
    started = next(e for e in events if isinstance(e, TrainingStarted))
    assert (started.device, started.dtype) == ("cuda", "bfloat16")
    losses = [e.loss for e in events if isinstance(e, StepCompleted)]
    assert all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0]

    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.step == 40 and next(resumed.model.parameters()).is_cuda
    rest = [e for e in resumed.events() if isinstance(e, StepCompleted | TrainingFinished)]
    resumed.close()
    assert [e.step for e in rest if isinstance(e, StepCompleted)] == list(range(41, 61))
    assert rest[-1].reason == "completed"


def test_greedy_generation_matches_with_and_without_the_cache_on_cuda(corpus, tmp_path):
    trainer = Trainer.create(tiny_config(corpus, device="cuda", max_steps=1))
    model = trainer.model.eval()
    prompt = trainer.tokenizer.encode("oh my love").ids

    def greedy(use_cache: bool) -> list[int]:
        config = SampleConfig(temperature=0, max_new_tokens=40, use_cache=use_cache)
        return [token for token, _ in sample_ids(model, prompt, config)]

    assert greedy(True) == greedy(False)


def test_worker_trains_and_answers_on_cuda(corpus, tmp_path):
    config = tiny_config(corpus, device="cuda", max_steps=100_000, eval_every=1000)
    with EngineClient.start(config, tmp_path / "run") as client:
        follower = Follower(client)  # keeps reading events, as the TUI does
        follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step >= 3, timeout=120)
        tokens = list(client.generate("oh my love"))
        assert len(tokens) == 8 and all(t.candidates for t in tokens)
        assert client.attention("oh my love you").shape == (2, 2, 4, 4)
        client.stop()
        follower.wait_for(lambda e: isinstance(e, TrainingFinished), timeout=60)
