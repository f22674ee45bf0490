"""`export RUN_DIR --tensorboard OUT_DIR`, read back with TensorBoard's own reader."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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


def _damage(run_dir: Path, how: str) -> None:
    events, config = run_dir / "events.jsonl", run_dir / "config.json"
    if how == "config garbage":
        config.write_text("{not json")
    elif how == "config of the wrong shape":
        config.write_text("[]")
    elif how == "config unreadable":
        config.unlink()
        config.mkdir()
    elif how == "garbage lines":
        events.write_bytes(b"\xff\xfe\n{}\n[1]\n\0\0\n" + events.read_bytes())
    elif how == "still being written":
        with events.open("ab") as file:
            file.write(b'{"kind":"step","step":13,"lo')  # a torn last line
    elif how == "empty":
        events.write_bytes(b"")
    elif how == "only a config":
        for path in run_dir.iterdir():
            if path.is_file() and path.name != "config.json":
                path.unlink()
    elif how == "events unreadable":
        events.unlink()
        events.mkdir()


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("config garbage", "config.json is not valid JSON (Expecting property name"),
        ("config of the wrong shape", "config.json holds an invalid config: a config is a JSON"),
        ("config unreadable", "config.json is not valid JSON ([Errno 21] Is a directory"),
        ("garbage lines", None),  # skipped, with a warning: the rest exports
        ("still being written", None),  # its torn last line left out
        ("empty", "tiny-1 has no training steps to export yet"),
        ("only a config", "tiny-1 has no training steps to export yet"),
        ("events unreadable", "events.jsonl cannot be read: Is a directory"),
    ],
)
def test_a_damaged_run_exports_what_is_whole_or_says_why_not(run, tmp_path, capsys, how, message):
    pytest.importorskip("tensorboard")
    run_dir, _ = run
    _damage(run_dir, how)
    out = tmp_path / "tb"
    code = tui_main(["export", str(run_dir), "--tensorboard", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if message is None:
        assert code == 0 and (out / "tiny-1").is_dir()
        assert err == "" or err.startswith("warning: ") and len(err.splitlines()) == 1
    else:
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists() or list(out.iterdir()) == []  # nothing written, no temp left


@pytest.mark.parametrize("where", ["OUT_DIR is a file", "OUT_DIR/<run> is a file", "below a file"])
def test_a_destination_that_is_a_file_is_refused_and_kept(run, tmp_path, capsys, where):
    pytest.importorskip("tensorboard")
    run_dir, _ = run
    out = tmp_path / "tb"
    if where == "OUT_DIR is a file":
        kept = out
    elif where == "OUT_DIR/<run> is a file":
        out.mkdir()
        kept = out / "tiny-1"
    else:
        kept = tmp_path / "file"
        out = kept / "tb"
    kept.write_text("someone's notes")
    assert tui_main(["export", str(run_dir), "--tensorboard", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "is a file, not a folder" in err or "Not a directory" in err
    assert kept.read_text() == "someone's notes"
    assert not [p for p in kept.parent.iterdir() if p.name.startswith(".")]  # no temp folder


def test_a_read_only_destination_is_one_line_and_an_earlier_export_is_kept(
    run, tmp_path, capsys, monkeypatch
):
    pytest.importorskip("tensorboard")
    import errno
    import tempfile

    run_dir, _ = run
    out = tmp_path / "tb"
    assert tui_main(["export", str(run_dir), "--tensorboard", str(out)]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    if os.geteuid() != 0:  # root writes anywhere: there, stand in for the OS's refusal
        out.chmod(0o500)
    else:

        def refused(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(tempfile, "mkdtemp", refused)
    try:
        assert tui_main(["export", str(run_dir), "--tensorboard", str(out)]) == 2
    finally:
        out.chmod(0o700)
    err = capsys.readouterr().err
    assert err == f"llmlearns-tui: error: cannot write {out}: Permission denied\n"
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_disk_that_fills_mid_export_keeps_the_earlier_export(run, tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorboard")
    import errno

    from torch.utils.tensorboard import SummaryWriter

    run_dir, _ = run
    out = tmp_path / "tb"
    assert tui_main(["export", str(run_dir), "--tensorboard", str(out)]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(SummaryWriter, "add_scalar", full)
    assert tui_main(["export", str(run_dir), "--tensorboard", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"llmlearns-tui: error: cannot write {out / 'tiny-1'}: No space left on device\n"
    )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in out.iterdir()] == ["tiny-1"]  # its temp folder removed
