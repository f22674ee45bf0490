"""`export RUN_DIR --tensorboard OUT_DIR`, read back with TensorBoard's own reader."""

from __future__ import annotations

import sys

import pytest

from engine.contract.events import (
    EvalCompleted,
    HeadsScored,
    SampleGenerated,
    StepCompleted,
    TrainingStats,
)
from engine.training.trainer import train
from tests.conftest import tiny_config
from tui.cli import main as tui_main


@pytest.fixture
def run(corpus, tmp_path):
    run_dir = tmp_path / "runs" / "tiny-1"
    events = list(train(tiny_config(corpus, max_steps=12, eval_every=5, stats_every=4), run_dir))
    return run_dir, events


def test_export_holds_every_step_eval_and_sample(run, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, events = run
    assert tui_main(["export", str(run_dir), "--tensorboard", str(tmp_path / "tb")]) == 0
    assert "tensorboard --logdir" in capsys.readouterr().out
    every = {"scalars": 0, "tensors": 0}  # 0: keep all, not a sample
    reader = EventAccumulator(str(tmp_path / "tb" / "tiny-1"), size_guidance=every)
    reader.Reload()

    steps = [e for e in events if isinstance(e, StepCompleted)]
    evals = [e for e in events if isinstance(e, EvalCompleted)]
    samples = [e for e in events if isinstance(e, SampleGenerated)]
    assert len(steps) == 12 and [e.step for e in evals] == [0, 5, 10, 12]

    def read(tag: str) -> list[tuple[int, float]]:
        return [(s.step, s.value) for s in reader.Scalars(tag)]

    def close(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
        return [s for s, _ in a] == [s for s, _ in b] and all(
            abs(x - y) <= 1e-5 * max(1.0, abs(y)) for (_, x), (_, y) in zip(a, b, strict=True)
        )

    assert close(read("train/loss"), [(e.step, e.loss) for e in steps])
    assert close(read("train/lr"), [(e.step, e.lr) for e in steps])
    assert close(read("train/grad_norm"), [(e.step, e.grad_norm) for e in steps])
    assert [s for s, _ in read("train/tokens_per_s")] == [e.step for e in steps]
    assert close(read("eval/val_loss"), [(e.step, e.val_loss) for e in evals])
    assert close(read("eval/train_loss"), [(e.step, e.train_loss) for e in evals])
    texts = reader.Tensors("sample/text_summary")  # torch names text tags so
    assert [t.step for t in texts] == [e.step for e in samples]
    assert samples[-1].text in texts[-1].tensor_proto.string_val[0].decode()

    stats = [e for e in events if isinstance(e, TrainingStats)]
    assert [e.step for e in stats] == [4, 8, 12]
    qkv = [(e.step, next(w for w in e.weights if (w.matrix, w.layer) == ("qkv", 1))) for e in stats]
    assert close(read("update_ratio/1.qkv"), [(step, w.update_ratio) for step, w in qkv])
    assert close(
        read("grad_norm/token_embedding"), [(e.step, e.weights[0].grad_norm) for e in stats]
    )
    assert close(read("mlp_dead/0"), [(e.step, e.layers[0].mlp_dead) for e in stats])
    assert close(read("attention_entropy/L1H1"), [(e.step, e.heads[3].entropy) for e in stats])
    scored = [e for e in events if isinstance(e, HeadsScored)]
    assert close(read("heads/induction/L1H0"), [(e.step, e.heads[2].induction) for e in scored])
    assert close(read("eval/icl_score"), [(e.step, e.icl_score) for e in scored])


def test_a_second_export_replaces_the_first(run, tmp_path):
    pytest.importorskip("tensorboard")
    run_dir, _ = run
    out = tmp_path / "tb"
    for _ in range(2):
        assert tui_main(["export", str(run_dir), "--tensorboard", str(out)]) == 0
    files = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert len(files) == 1 and files[0].startswith("events.out.tfevents")
    assert [p.name for p in out.iterdir()] == ["tiny-1"]  # no leftover temp folder


def test_a_missing_run_is_one_line_and_exit_2(tmp_path, capsys):
    assert tui_main(["export", str(tmp_path / "nowhere"), "--tensorboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nowhere/config.json is missing" in err and len(err.strip().splitlines()) == 1


def test_without_tensorboard_it_says_how_to_install_it(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises ImportError
    run_dir, _ = run
    assert tui_main(["export", str(run_dir), "--tensorboard", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'llm-learns[tensorboard]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "tb").exists()  # nothing written
