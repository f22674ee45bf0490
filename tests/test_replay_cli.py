"""`llmlearns-tui replay RUN_DIR`: the TUI attached to a run, replaying it from step 0."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.cli.commands import parse_args
from tests.test_cli import run_cli
from tui.cli import main as tui_main


def test_replay_is_a_command_of_its_own():
    args = parse_args(["replay", "runs/x"])
    assert (args.command, args.run_dir, args.headless) == ("replay", Path("runs/x"), False)
    with pytest.raises(SystemExit):
        parse_args(["replay", "runs/x", "--headless"])  # the TUI only


def test_replay_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = run_cli("replay", "nowhere", cwd=tmp_path, timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    assert "nowhere/config.json is missing: nowhere is not a run directory" in result.stderr


def test_replay_opens_the_tui_attached_and_replaying(tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("tui.cli.check_args", lambda args: None)
    opened = {}

    def run_app(connect, **kwargs):
        opened.update(kwargs, client=connect())
        return 0

    monkeypatch.setattr("tui.app.run_app", run_app)
    monkeypatch.setattr(
        "tui.cli.connect_from_args",
        lambda args: SimpleNamespace(run_dir=args.run_dir, close=lambda: None),
    )
    monkeypatch.setattr("tui.cli._still_training", lambda run_dir: False)
    assert tui_main(["replay", "run"]) == 0
    assert opened["replay"] is True and opened["client"].run_dir == Path("run")
    assert tui_main(["attach", "run"]) == 0 and opened["replay"] is False
