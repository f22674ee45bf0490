"""Runs that are damaged, empty, still being written or unreadable, met by --compare, `runs` and
`export` (the export cases are in test_export.py): what is whole is used, the rest refused in one
line before any UI opens."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from engine import StepCompleted, comparable_run, read_events


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    from engine.training.trainer import train
    from tests.conftest import SONG, tiny_config

    base = tmp_path_factory.mktemp("compare")
    corpus = base / "corpus.txt"
    corpus.write_text(SONG * 12, encoding="utf-8")
    list(train(tiny_config(corpus, max_steps=12, eval_every=5), base / "tiny-1"))
    return base / "tiny-1"


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("config garbage", "config.json is not valid JSON"),
        ("config of the wrong shape", "config.json holds an invalid config"),
        ("config unreadable", "config.json is not valid JSON ([Errno 21] Is a directory"),
        ("garbage lines", None),
        ("still being written", None),
        ("empty", "has no history to draw yet (events.jsonl is empty)"),
        ("only a config", "has no history to draw (events.jsonl is missing)"),
        ("events unreadable", "events.jsonl cannot be read: Is a directory"),
    ],
)
def test_a_damaged_run_to_compare_draws_what_is_whole_or_is_refused_in_one_line(
    finished_run, tmp_path, how, message
):
    from engine import CheckpointError
    from engine.cli.commands import check_args, parse_args
    from tests.test_export import _damage

    damaged = tmp_path / "tiny-1"
    shutil.copytree(finished_run, damaged)
    _damage(damaged, how)
    args = parse_args(["attach", str(finished_run), "--compare", str(damaged)])
    if message is None:
        assert check_args(args) is None  # accepted before the UI opens
        steps = [e.step for e in read_events(damaged) if isinstance(e, StepCompleted)]
        assert steps == list(range(1, 13))  # what the chart draws: every whole step
    else:
        for check in (lambda: check_args(args), lambda: comparable_run(damaged)):
            with pytest.raises(CheckpointError, match=re.escape(message)) as error:
                check()
            assert "\n" not in str(error.value)


def test_runs_leaves_out_a_run_it_cannot_read_and_lists_the_rest(
    finished_run, tmp_path, capsys, caplog
):
    from engine.cli import parse_args, run_command
    from tests.test_export import _damage

    for name in ("a-good", "b-unreadable"):
        shutil.copytree(finished_run, tmp_path / name)
    _damage(tmp_path / "b-unreadable", "events unreadable")
    assert run_command(parse_args(["runs", str(tmp_path)])) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[1:]] == [f"{tmp_path}/a-good"]
    assert caplog.messages == [
        f"warning: {tmp_path}/b-unreadable left out: {tmp_path}/b-unreadable/events.jsonl "
        "cannot be read: Is a directory"
    ]
