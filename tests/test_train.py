import errno
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine import (
    PRESETS,
    CheckpointError,
    CheckpointSaved,
    EvalCompleted,
    LossNotFinite,
    StepCompleted,
    Trainer,
    TrainingFinished,
    TrainingStarted,
    WriteError,
    event_from_json,
    read_events,
)
from engine.runs import files
from engine.runs.files import MODEL, OPTIMIZER
from engine.training import checkpoint
from engine.training.schedule import lr_at
from engine.training.trainer import train
from tests.conftest import tiny_config


def test_events_arrive_in_order_and_round_trip(tiny, tmp_path):
    trainer = Trainer.create(tiny, tmp_path / "run")
    events = list(trainer.events())
    trainer.close()
    assert isinstance(events[0], TrainingStarted)
    assert isinstance(events[1], EvalCompleted) and events[1].step == 0
    assert isinstance(events[-1], TrainingFinished) and events[-1].reason == "completed"
    steps = [e.step for e in events if isinstance(e, StepCompleted)]
    assert steps == list(range(1, 31))
    assert [event_from_json(e.to_json()) for e in events] == events
    assert list(read_events(tmp_path / "run")) == events


@pytest.mark.slow
def test_the_seed_preset_halves_its_loss_within_its_steps():
    trainer = Trainer.create(
        replace(
            PRESETS["seed"], train=replace(PRESETS["seed"].train, device="cpu", eval_every=1500)
        )
    )
    losses = [e.loss for e in trainer.events() if isinstance(e, StepCompleted)]
    assert len(losses) == 1500
    assert min(losses[-50:]) < losses[0] / 2


def test_same_seed_gives_the_same_losses(tiny):
    def losses():
        return [e.loss for e in Trainer.create(tiny).events() if isinstance(e, StepCompleted)]

    assert losses() == losses()


def test_save_then_load_gives_identical_logits(tiny, tmp_path):
    trainer = Trainer.create(tiny, tmp_path / "run")
    list(trainer.events())
    trainer.close()
    reloaded = Trainer.resume(tmp_path / "run")
    idx = torch.randint(trainer.tokenizer.vocab_size, (2, 16))
    assert torch.equal(trainer.model(idx)[0], reloaded.model(idx)[0])


def test_resume_continues_step_lr_and_losses(tiny, tmp_path):
    straight = [e for e in Trainer.create(tiny).events() if isinstance(e, StepCompleted)]
    first = Trainer.create(tiny, tmp_path / "run")
    for event in first.events():
        if isinstance(event, StepCompleted) and event.step == 10:
            first.control.stop = True
    first.close()
    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.step == 10
    rest = [e for e in resumed.events() if isinstance(e, StepCompleted)]
    resumed.close()
    assert [e.step for e in rest] == list(range(11, 31))
    assert [e.lr for e in rest] == [e.lr for e in straight[10:]]
    assert [e.loss for e in rest] == pytest.approx([e.loss for e in straight[10:]], abs=1e-5)
    history = [e.step for e in read_events(tmp_path / "run") if isinstance(e, StepCompleted)]
    assert history == list(range(1, 31))


def test_lr_warms_up_then_decays_to_min_lr():
    config = PRESETS["char-small"]
    assert lr_at(0, config) < lr_at(50, config) < lr_at(99, config) <= 1e-3
    assert lr_at(2000, config) == pytest.approx(1e-4)
    assert lr_at(1000, config) < lr_at(500, config)


def test_a_non_finite_loss_is_reported_and_not_applied(corpus, tmp_path):
    trainer = Trainer.create(tiny_config(corpus, lr=10.0, grad_clip=0.0), tmp_path / "run")
    with torch.no_grad():  # poison one weight: every loss is NaN from here on
        trainer.model.wte.weight[0, 0] = math.nan
    events = list(trainer.events())
    bad = [e for e in events if isinstance(e, LossNotFinite)]
    assert bad and math.isnan(bad[0].loss)
    assert events[-1] == TrainingFinished("diverged", 0)
    assert not any(isinstance(e, StepCompleted) for e in events)


def test_a_corrupt_checkpoint_names_the_file(tiny, tmp_path):
    trainer = Trainer.create(tiny, tmp_path / "run")
    list(trainer.events())
    trainer.close()
    model = tmp_path / "run" / "model.safetensors"
    model.write_bytes(model.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt or truncated"):
        Trainer.resume(tmp_path / "run")


def test_a_mismatched_checkpoint_says_what_differs(tiny, tmp_path):
    trainer = Trainer.create(tiny, tmp_path / "run")
    list(trainer.events())
    trainer.close()
    config = tmp_path / "run" / "config.json"
    config.write_text(config.read_text().replace('"n_embd": 32', '"n_embd": 64'))
    with pytest.raises(CheckpointError, match=r"does not match config.json: .* has shape"):
        Trainer.resume(tmp_path / "run")


def test_checkpoints_are_written_atomically(tiny, tmp_path):
    trainer = Trainer.create(tiny, tmp_path / "run")
    saved = [e for e in trainer.events() if isinstance(e, CheckpointSaved)]
    trainer.close()
    assert saved and all(e.path.endswith("model.safetensors") for e in saved)
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_a_checkpoint_cut_short_leaves_the_last_pair_whole(tiny, tmp_path, monkeypatch):
    """A worker killed (here: a write that fails) while writing model.safetensors must not leave
    a new optimizer file beside the old model: the run would no longer open."""
    trainer = Trainer.create(tiny, tmp_path / "run")
    list(trainer.events())
    trainer.close()
    before = {name: (tmp_path / "run" / name).read_bytes() for name in (MODEL, OPTIMIZER)}

    def full_disk_at_the_model(tensors, path, metadata=None):
        if MODEL in Path(path).name:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save_file(tensors, path, metadata=metadata)

    real_save_file = checkpoint.save_file
    monkeypatch.setattr(checkpoint, "save_file", full_disk_at_the_model)
    trainer = Trainer.resume(tmp_path / "run")
    trainer.state.step += 5  # as if it had trained on: what it would write differs
    with torch.no_grad():
        trainer.model.wte.weight.add_(1.0)
    with pytest.raises(WriteError, match="No space left"):
        trainer.save()
    trainer.close()
    after = {name: (tmp_path / "run" / name).read_bytes() for name in (MODEL, OPTIMIZER)}
    assert after == before
    assert not list((tmp_path / "run").glob(".*.tmp")) + list((tmp_path / "run").glob(".*.pending"))
    monkeypatch.undo()
    Trainer.resume(tmp_path / "run").close()  # the pair still opens


def test_a_kill_between_the_pairs_renames_leaves_the_new_pair_to_open(tiny, tmp_path, monkeypatch):
    """Two renames cannot be one: a worker killed after renaming the optimizer file, before the
    model's, leaves a new optimizer beside the old model (CI's loaded run hit it). The model's
    pending copy is whole: readers take it, and the next worker finishes the rename."""
    run = tmp_path / "run"
    trainer = Trainer.create(tiny, run)
    list(trainer.events())
    trainer.close()
    trainer = Trainer.resume(run)
    trainer.state.step += 5
    with torch.no_grad():
        trainer.model.wte.weight.add_(1.0)
    newer = trainer.model.wte.weight.detach().clone()
    real_replace = files.os.replace

    def killed_before_the_model(source, target):
        if Path(target).name == MODEL:
            raise KeyboardInterrupt  # stands for SIGKILL: nothing after it runs
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", killed_before_the_model)
    with pytest.raises(KeyboardInterrupt):
        trainer.save()
    monkeypatch.undo()
    step = trainer.state.step
    assert (run / ".model.safetensors.pending").exists()
    # A reader that does not own the run (export, a report) reads the new pair as it is.
    looked = Trainer.create(tiny)
    assert checkpoint.load_weights(run, looked.model) == step
    assert torch.equal(looked.model.wte.weight, newer)
    resumed = Trainer.resume(run)  # the run's next worker settles the files
    assert resumed.step == step and torch.equal(resumed.model.wte.weight, newer)
    resumed.close()
    assert not (run / ".model.safetensors.pending").exists()
    assert checkpoint.current_file(run, MODEL) == run / MODEL


def test_a_half_written_pending_copy_is_ignored_and_removed(tiny, tmp_path):
    """A kill while the pair is still being written leaves the old pair whole beside a torn
    pending copy: the run opens on the old pair, and the copy goes."""
    run = tmp_path / "run"
    trainer = Trainer.create(tiny, run)
    list(trainer.events())
    trainer.close()
    (run / ".model.safetensors.pending").write_bytes(b"torn")
    resumed = Trainer.resume(run)
    assert resumed.step == tiny.train.max_steps
    resumed.close()
    assert not (run / ".model.safetensors.pending").exists()


RESUMABLE = {  # model options, train options
    "adamw": ({}, {}),
    "adamw with every option": (
        {"dropout": 0.2, "bias": True},  # dropout: its masks' RNG must go on where it was
        {
            "warmup_steps": 4,
            "lr": 3e-3,
            "min_lr": 1e-4,
            "weight_decay": 0.1,
            "grad_clip": 0.0,
            "log_every": 2,
        },
    ),  # fmt: skip
    "muon with every modern option": (
        {"rope": True, "qk_norm": True, "relu2": True, "tie_head": False, "zero_init": True},
        {"muon": True, "warmup_steps": 3},
    ),
}


@pytest.mark.parametrize("name", RESUMABLE)
def test_every_optimizer_and_option_resumes_on_the_exact_curve(corpus, tmp_path, name):
    """Stopped at step 4, resumed, killed at step 8 (its last checkpoint: the eval at 5),
    resumed again: the curve from each resume on is the uninterrupted run's, bit for bit."""
    model, train_options = RESUMABLE[name]
    config = tiny_config(corpus, max_steps=16, eval_every=5, **train_options)
    config = replace(config, model=replace(config.model, **model))
    straight = {e.step: (e.loss, e.lr) for e in train(config) if isinstance(e, StepCompleted)}
    run_dir = tmp_path / "run"

    def until(trainer: Trainer, step: int, stop: bool) -> dict[int, tuple[float, float]]:
        curve = {}
        for event in trainer.events():
            if isinstance(event, StepCompleted):
                curve[event.step] = (event.loss, event.lr)
                if event.step == step and stop:
                    trainer.control.stop = True  # a clean stop: checkpoint at this step
                elif event.step == step:
                    break  # a crash: the checkpoint on disk is the eval's at step 5
        trainer.close()
        return curve

    until(Trainer.create(config, run_dir), 4, stop=True)
    second = Trainer.resume(run_dir)
    assert second.step == 4
    after_stop = until(second, 8, stop=False)
    third = Trainer.resume(run_dir)
    assert third.step == 5
    after_crash = until(third, 16, stop=False)
    assert after_stop == {s: straight[s] for s in after_stop}
    assert min(after_stop) == (5 if name != "adamw with every option" else 6)  # log_every 2
    assert after_crash == {s: straight[s] for s in straight if s > 5}
