"""CUDA checks for a GPU box: bf16 training, exact resume, the KV cache and the worker on the GPU;
a step that never waits for the GPU, the captured training step and the decoder's CUDA graphs.

Skipped where torch sees no CUDA device, as on CI. On a GPU machine: `pytest tests/test_cuda.py`.
"""

from __future__ import annotations

import math

import pytest
import torch

from engine import (
    LossNotFinite,
    SampleConfig,
    StepCompleted,
    TrainingFinished,
    TrainingPaused,
    TrainingStarted,
    TrainingStats,
)
from engine.model import decode
from engine.model.generate import sample_ids
from engine.process.client import EngineClient
from engine.training.trainer import Trainer
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


@pytest.mark.parametrize("graph", [True, False])
def test_a_training_step_never_waits_for_the_gpu(corpus, graph):
    config = tiny_config(corpus, device="cuda", max_steps=1000, log_every=10, eval_every=1000)
    trainer = Trainer.create(config)
    if not graph:
        trainer.graph = None
    events = trainer.events()
    next(e for e in events if isinstance(e, StepCompleted) and e.step >= 10)  # warm, captured
    torch.cuda.set_sync_debug_mode("error")  # any sync raises
    try:
        for _ in range(20):
            trainer.train_step()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert (trainer.graph is not None and trainer.graph.graph is not None) == graph
    trainer._read_steps(wait=True)
    assert trainer.step >= 30 and not any(isinstance(e, LossNotFinite) for e in trainer._unsent)


@pytest.mark.parametrize("graph", [True, False])
def test_a_measured_step_never_waits_for_the_gpu_either(corpus, graph):
    config = tiny_config(
        corpus, device="cuda", max_steps=1000, log_every=10, eval_every=1000, stats_every=5
    )
    trainer = Trainer.create(config)
    if not graph:
        trainer.graph = None
    events = trainer.events()
    next(e for e in events if isinstance(e, StepCompleted) and e.step >= 10)  # warm, captured
    start = trainer.step
    torch.cuda.set_sync_debug_mode("error")  # any sync raises
    try:
        for _ in range(20):
            trainer.train_step()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert (trainer.graph is not None and trainer.graph.graph is not None) == graph
    trainer._read_steps(wait=True)
    stats = [e for e in trainer._unsent if isinstance(e, TrainingStats) and e.step > start]
    assert [e.step for e in stats] == [s for s in range(start + 1, start + 21) if s % 5 == 0]
    for event in stats:
        assert all(math.isfinite(w.update_ratio) and w.grad_norm > 0 for w in event.weights)
        assert all(0 <= layer.mlp_dead <= 1 for layer in event.layers)


def test_the_captured_step_trains_like_the_eager_one(corpus):
    def losses(graph: bool) -> list[float]:
        trainer = Trainer.create(tiny_config(corpus, device="cuda", max_steps=30, lr=3e-3))
        if not graph:
            trainer.graph = None
        steps = [e.loss for e in trainer.events() if isinstance(e, StepCompleted)]
        assert (trainer.graph is not None and trainer.graph.graph is not None) == graph
        return steps

    captured, eager = losses(True), losses(False)
    assert len(captured) == 30 and captured[-1] < captured[0]
    assert captured == pytest.approx(eager, rel=2e-2)


def test_a_non_finite_step_inside_the_graph_is_not_applied(corpus, tmp_path):
    config = tiny_config(
        corpus, device="cuda", max_steps=200, log_every=5, lr=1e6, min_lr=0.0, grad_clip=0.0
    )
    trainer = Trainer.create(config, tmp_path / "run")
    seen = []
    for event in trainer.events():
        seen.append(event)
        if isinstance(event, TrainingPaused):
            break
    assert trainer.graph is not None and trainer.graph.graph is not None
    bad = next(e for e in seen if isinstance(e, LossNotFinite))
    assert trainer.step == bad.step - 1
    assert all(p.isfinite().all() for p in trainer.model.parameters())
    trainer.save()  # from a captured run: a float rate, so any device resumes it
    trainer.close()
    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.step == trainer.step
    assert all(isinstance(g["lr"], float) for g in resumed.optimizer.param_groups)


def test_decoding_with_cuda_graphs_gives_the_eager_tokens(corpus, monkeypatch):
    trainer = Trainer.create(tiny_config(corpus, device="cuda", max_steps=20))
    prompt = trainer.tokenizer.encode("oh my love").ids
    greedy = SampleConfig(temperature=0, max_new_tokens=40)  # a 16-token context: it slides

    def tokens(graphs: bool) -> list[int]:
        monkeypatch.setattr(decode, "GRAPHS", graphs)
        return [t for t, _ in sample_ids(trainer.model.eval(), prompt, greedy)]

    for _ in range(2):  # untrained, then trained: the graphs follow the weights
        eager, captured, replayed = tokens(False), tokens(True), tokens(True)
        assert captured == replayed == eager
        static = decode._static[trainer.model]
        assert static.use_graphs and sum(g is not None for g in static.graphs) > 10
        trainer.model.train()
        list(trainer.events())
