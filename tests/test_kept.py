"""Weights kept from past evals: the model can be asked as it was at a replayed step."""

from __future__ import annotations

import stat
from dataclasses import replace

import pytest

from engine import EngineClient, SampleGenerated, Trainer
from engine.training.kept import kept_path, kept_steps, nearest_kept, thinned
from tests.conftest import tiny_config


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 8])
def test_thinning_keeps_the_ends_and_the_limit(limit):
    steps = list(range(0, 3001, 250))
    left = [s for s in steps if s not in thinned(steps, limit)]
    assert min(limit, 2) <= len(left) <= limit  # a stride that doubles keeps half to all
    assert left[-1] == 3000  # the latest always stays
    if limit > 1:
        assert left[0] == 0  # and the untrained model


def test_thinning_as_a_run_goes_on_covers_it_evenly():
    kept: list[int] = []
    for step in range(0, 10_001, 100):  # one eval at a time, as a run keeps them
        kept = [s for s in [*kept, step] if s not in thinned([*kept, step], 6)]
    gaps = [b - a for a, b in zip(kept, kept[1:], strict=False)]
    assert 3 <= len(kept) <= 6 and kept[0] == 0 and kept[-1] == 10_000
    assert max(gaps) <= 2 * 10_000 / 5  # no stretch of the run left with nothing kept


@pytest.fixture
def finished(corpus, tmp_path):
    """A 30-step run with an eval every 10: steps 0, 10, 20, 30 are kept."""
    config = tiny_config(corpus, max_steps=30, eval_every=10)
    config = replace(config, train=replace(config.train, keep_checkpoints=4))
    trainer = Trainer.create(config, tmp_path / "run")
    samples = {e.step: e.text for e in trainer.events() if isinstance(e, SampleGenerated)}
    trainer.close()
    return tmp_path / "run", samples, trainer


def test_each_eval_keeps_its_weights_owner_only(finished):
    run, _, _ = finished
    assert kept_steps(run) == [0, 10, 20, 30]
    assert all(stat.S_IMODE(kept_path(run, s).stat().st_mode) == 0o600 for s in kept_steps(run))
    assert nearest_kept(run, 25) == 20 and nearest_kept(run, 10) == 10


def test_a_kept_step_generates_what_the_run_sampled_then(finished):
    run, samples, trainer = finished
    prompt = trainer.config.sample.prompt
    for step in (0, 10, 20):
        _, tokens = trainer.generate(prompt, at_step=step)
        assert prompt + "".join(t.text for t in tokens) == samples[step]
        assert trainer.model_at(step)[1] == step
    assert trainer.model_at(None) == (trainer.model, 30)
    assert trainer.model_at(25)[1] == 20  # between kept steps: the one before


@pytest.mark.slow
def test_a_worker_answers_at_a_past_step_and_says_which(finished, workers):
    run, samples, trainer = finished
    prompt = trainer.config.sample.prompt
    with EngineClient.attach(run) as client:
        workers.append(client.pid)
        assert client.kept_steps() == [0, 10, 20, 30]
        generation = client.generate(prompt, at_step=14)
        text = prompt + "".join(t.text for t in generation)
        assert generation.step == 10 and text == samples[10]
        assert client.trace("oh my love", at_step=29).step == 20
        assert client.attention("oh my love", at_step=0).step == 0
        assert client.trace("oh my love").step == 30  # now
