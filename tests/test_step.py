"""The GPU's step path (engine/training/step.py), run on the CPU: values read once per
log_every steps, a non-finite step skipped on the device with the optimizer's state intact, and a
rewind to it."""

from __future__ import annotations

import math

import pytest
import torch

from engine.contract.events import (
    CheckpointSaved,
    LossNotFinite,
    StepCompleted,
    TrainingFinished,
    TrainingPaused,
)
from engine.training.step import apply_unless
from engine.training.trainer import Trainer
from tests.conftest import tiny_config

READS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__")


class ReadCounter:
    """Counts every way Python reads a tensor's value: on a GPU each one waits for the device."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.count = 0
        for name in READS:
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._counted(original))

    def _counted(self, original):
        def read(tensor, *args, **kwargs):
            self.count += 1
            return original(tensor, *args, **kwargs)

        return read


def _lazy_trainer(corpus, **train) -> Trainer:
    trainer = Trainer.create(tiny_config(corpus, **train))
    trainer.lazy = True  # what a CUDA device gets: the same code, here on the CPU
    return trainer


def _steps_until(events, step: int) -> list[StepCompleted]:
    seen = []
    for event in events:
        if isinstance(event, StepCompleted):
            seen.append(event)
            if event.step == step:
                return seen
    raise AssertionError(f"no step {step}")


@pytest.mark.parametrize(("lazy", "most_reads"), [(True, 3), (False, 60)])
def test_the_device_is_read_once_per_log_every_steps(corpus, monkeypatch, lazy, most_reads):
    trainer = _lazy_trainer(corpus, max_steps=100, log_every=10, eval_every=1000)
    trainer.lazy = lazy
    events = trainer.events()
    _steps_until(events, 10)  # past the step-0 eval and sample, which read values of their own
    reads = ReadCounter(monkeypatch)
    logged = _steps_until(events, 40)
    assert [e.step for e in logged] == [20, 30, 40]
    assert reads.count <= most_reads
    if not lazy:  # the counter does count: the CPU path reads every step
        assert reads.count >= 30


def test_lazy_and_eager_steps_give_the_same_losses(corpus):
    def losses(lazy: bool) -> list[float]:
        trainer = _lazy_trainer(corpus, max_steps=12, log_every=3)
        trainer.lazy = lazy
        return [
            (e.step, e.loss, e.grad_norm) for e in trainer.events() if isinstance(e, StepCompleted)
        ]

    assert losses(True) == losses(False)


def _poison(trainer: Trainer, bad_call: int) -> None:
    """Make the loss of the model's bad_call-th training call NaN (and so its gradients)."""
    model, calls = trainer.step_model, [0]

    def poisoned(x, y):
        calls[0] += 1
        logits, loss = model(x, y)
        return logits, loss * math.nan if calls[0] == bad_call else loss

    trainer.step_model = poisoned


def _state(trainer: Trainer) -> list[torch.Tensor]:
    optimizer = trainer.optimizer.state_dict()["state"]
    return [p.detach().clone() for p in trainer.model.parameters()] + [
        value.clone() for entry in optimizer.values() for value in entry.values()
    ]


def test_a_bad_step_is_skipped_on_the_device_and_the_run_rewinds_to_before_it(corpus):
    config = dict(max_steps=30, log_every=5, eval_every=1000)
    trainer = _lazy_trainer(corpus, **config)
    _poison(trainer, bad_call=8)
    seen = []
    for event in trainer.events():
        seen.append(event)
        if isinstance(event, TrainingPaused):
            break
    bad = next(e for e in seen if isinstance(e, LossNotFinite))
    assert bad.step == 8 and math.isnan(bad.loss) and bad.what == "loss"
    assert [e.step for e in seen if isinstance(e, StepCompleted)] == [5]  # 8, 9, 10 not applied
    assert trainer.step == 7 and "at step 8" in seen[-1].detail

    reference = Trainer.create(tiny_config(corpus, **config))
    for _ in range(7):
        reference.train_step()
    reference._read_steps(wait=True)
    assert reference.step == 7
    for ours, theirs in zip(_state(trainer), _state(reference), strict=True):
        assert torch.equal(ours, theirs)


def test_after_a_bad_step_training_goes_on_from_the_last_good_one(corpus):
    trainer = _lazy_trainer(corpus, max_steps=12, log_every=5, eval_every=1000)
    _poison(trainer, bad_call=3)
    events = list(trainer.events())  # a script: advancing again resumes
    steps = [e.step for e in events if isinstance(e, StepCompleted)]
    assert steps == [5, 10, 12]
    assert [e.step for e in events if isinstance(e, LossNotFinite)] == [3]
    assert events[-1] == TrainingFinished("completed", 12)
    assert all(p.isfinite().all() for p in trainer.model.parameters())


def test_a_run_that_stays_bad_gives_up_as_diverged(corpus):
    trainer = _lazy_trainer(corpus, max_steps=30, log_every=4, lr=10.0, grad_clip=0.0)
    with torch.no_grad():
        trainer.model.wte.weight[0, 0] = math.nan  # every loss is NaN from here on
    events = list(trainer.events())
    assert len([e for e in events if isinstance(e, LossNotFinite)]) == 10
    assert events[-1] == TrainingFinished("diverged", 0)
    assert not any(isinstance(e, StepCompleted) for e in events)


def test_a_save_between_steps_waits_for_the_queued_steps(corpus, tmp_path):
    trainer = Trainer.create(tiny_config(corpus, max_steps=30, log_every=10), tmp_path / "run")
    trainer.lazy = True
    events = trainer.events()
    _steps_until(events, 10)
    _poison(trainer, bad_call=3)  # the 13th step
    for _ in range(5):
        trainer.train_step()  # as if between two turns of the loop: steps 11 to 15 queued
    saved = trainer.save()  # what a client's save request does
    assert saved == CheckpointSaved(12, saved.path)
    assert isinstance(next(events), LossNotFinite)  # the loop still reports it


def _optimizers(params: list[torch.nn.Parameter]) -> dict[str, torch.optim.Optimizer]:
    makers = {
        "fused AdamW": lambda: torch.optim.AdamW(params, lr=0.1, fused=True),
        "SGD with momentum": lambda: torch.optim.SGD(params, lr=0.1, momentum=0.9),
        "AdamW (foreach)": lambda: torch.optim.AdamW(params, lr=0.1, foreach=True),
    }
    if hasattr(torch.optim, "Muon"):
        makers["Muon"] = lambda: torch.optim.Muon(params, lr=0.1)
    return makers


@pytest.mark.parametrize("name", ["fused AdamW", "SGD with momentum", "AdamW (foreach)", "Muon"])
def test_a_flagged_step_leaves_parameters_and_optimizer_state_unchanged(name):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3, 5))]
    makers = _optimizers(params)
    if name not in makers:
        pytest.skip(f"this torch has no {name}")
    optimizer = makers[name]()
    for first in (True, False):  # the first step creates the state; a later one updates it
        for p in params:
            p.grad = torch.randn_like(p)
        if not first:
            optimizer.step()
        before = [p.detach().clone() for p in params]
        state = [{k: v.clone() for k, v in optimizer.state.get(p, {}).items()} for p in params]
        for p in params:
            p.grad = torch.full_like(p, math.nan)
        apply_unless(optimizer, torch.tensor(1.0))
        assert all(torch.equal(a, p) for a, p in zip(before, params, strict=True))
        for p, kept in zip(params, state, strict=True):
            for key, value in optimizer.state[p].items():
                expected = kept.get(key, torch.zeros_like(value))  # new state starts at zero
                assert torch.equal(value, expected), key
        for p in params:
            p.grad = torch.ones_like(p)
        apply_unless(optimizer, torch.tensor(0.0))
        assert not any(torch.equal(a, p) for a, p in zip(before, params, strict=True))


def test_values_are_read_at_least_every_max_pending_steps(corpus, monkeypatch):
    import engine.training.stepping

    monkeypatch.setattr(engine.training.stepping, "MAX_PENDING", 5)
    trainer = _lazy_trainer(corpus, max_steps=30, log_every=1000, eval_every=1000)
    queued, step = [], trainer.train_step

    def counted_step():
        step()
        queued.append(len(trainer.reader.pending))

    trainer.train_step = counted_step
    events = list(trainer.events())
    assert len(queued) == 30 and max(queued) <= 5
    assert [e.step for e in events if isinstance(e, StepCompleted)] == [30]
