"""Runs side by side: other runs' curves on the Train chart, from --compare or the runs list."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine import StepCompleted, TrainingFinished, TrainingStarted, preset
from tests.test_cli import run_cli
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.screens.runs import RunsScreen
from tui.state.compare import PALETTE, ComparedRun, free_color, read_run
from tui.state.loss_history import LossHistory
from tui.views.train import TrainView
from tui.widgets.train.chart_legend import ChartLegend
from tui.widgets.train.loss_chart import LossChart


def write_run(root: Path, name: str, events: list) -> Path:
    """A run directory as the engine leaves it: config.json and events.jsonl."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(preset("seed").to_json(), encoding="utf-8")
    started = replace(events[0], run_dir=str(run_dir))
    lines = [event.to_json() for event in [started, *events[1:]]]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_dir


def slower_run(root: Path, name: str = "char-small-1") -> Path:
    """A longer run whose steps take twice the time of the fake live run's."""
    events = [
        replace(e, elapsed_s=e.elapsed_s * 2) if isinstance(e, StepCompleted) else e
        for e in make_events(steps=500, max_steps=500)
    ]
    return write_run(root, name, events)


def colored_cells(chart: LossChart, color: tuple[int, int, int]) -> int:
    return sum(
        len(segment.text.strip())
        for line in chart.kept_lines()
        for segment in line
        if segment.style and segment.style.color and segment.style.color.triplet == color
    )


def test_a_run_is_read_with_its_steps_evals_and_seconds(tmp_path):
    run = read_run(slower_run(tmp_path))
    assert len(run.history) == 500 and len(run.history.val) == 5
    assert run.history.seconds[-1] == pytest.approx(100.0)
    assert (run.tokenizer, run.vocab_size, run.max_steps) == ("word", 50, 500)


async def test_runs_given_together_get_their_colours_in_order(tmp_path):
    paths = [slower_run(tmp_path, f"run-{i}") for i in range(3)]
    fake = FakeEngine()
    app, _ = make_app(fake, compare=paths)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: len(chart.compared) == 3)
        assert [(run.name, run.color) for run in chart.compared] == [
            (f"run-{i}", PALETTE[i]) for i in range(3)
        ]


def test_colours_stay_with_their_runs():
    assert free_color([]) == PALETTE[0]
    assert free_color([PALETTE[0], PALETTE[2]]) == PALETTE[1]  # a freed colour is reused


async def test_compare_draws_the_other_run_and_names_it_in_the_legend(tmp_path):
    other = slower_run(tmp_path)
    fake = FakeEngine()
    app, _ = make_app(fake, compare=[other])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: chart.compared)
        (run,) = chart.compared
        assert run.color == PALETTE[0] and run.name == "char-small-1"
        await settle(pilot, lambda: chart.draws > 0)
        chart.refresh()
        assert colored_cells(chart, run.color) > 20
        legend = app.query_one("#chart-legend", ChartLegend)
        assert [e.heading for e in legend.entries if e.label == "char-small-1"] == [
            "Comparing runs"
        ]
        # The other run lasted 500 steps: the x axis reaches past the live run's 300.
        rows = ["".join(segment.text for segment in line) for line in chart.kept_lines()]
        assert any("500" in row for row in rows[-3:])


async def test_x_cycles_through_steps_tokens_and_seconds(tmp_path):
    other = slower_run(tmp_path)
    fake = FakeEngine()
    app, _ = make_app(fake, compare=[other])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: chart.compared)
        axes = []
        for _ in range(3):
            await pilot.press("x")
            axes.append(chart.x_axis)
        assert axes == ["tokens", "seconds", "step"]
        await pilot.press("x", "x")
        await settle(pilot)
        rows = ["".join(segment.text for segment in line) for line in chart.kept_lines()]
        assert "training seconds" in rows[-1]
        # In seconds the slower run's 500 steps end at 100 s, the live run's 300 at 30 s.
        (run,) = chart.compared
        assert run.history.x_at([500], "seconds") == [100.0]
        assert chart.history.x_at([300], "seconds") == [pytest.approx(30.0)]


async def test_the_runs_list_adds_and_removes_a_run(tmp_path):
    slower_run(tmp_path, "run-a")
    write_run(tmp_path, "run-b", make_events(steps=50, max_steps=50))
    fake = FakeEngine()
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        app.query_one(TrainView).runs_root = tmp_path
        chart = app.query_one(LossChart)
        await pilot.press("c")
        await settle(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.runs)
        names = sorted(run.path.name for run in app.screen.runs)
        assert names == ["run-a", "run-b"]
        await pilot.press("enter")  # the first (newest) run
        await settle(pilot, lambda: chart.compared)
        added = chart.compared[0].name
        assert not isinstance(app.screen, RunsScreen)
        await pilot.press("c")
        await settle(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.runs)
        await pilot.press("enter")  # the same run again: taken off
        await settle(pilot, lambda: not chart.compared)
        assert not chart.compared and added in names
        assert "run-a" not in str(app.query_one("#chart-legend", ChartLegend).visual)


async def test_the_palette_opens_the_runs_list(tmp_path):
    fake = FakeEngine()
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        app.query_one(TrainView).runs_root = tmp_path
        await pilot.press("4")
        app.action_compare_runs()
        await settle(pilot, lambda: isinstance(app.screen, RunsScreen))
        assert app.current_view == "train"
        assert "No other runs" in str(
            app.screen.query_one("#runs-list").get_option_at_index(0).prompt
        )


async def test_a_run_with_other_tokens_is_drawn_with_a_warning(tmp_path):
    events = make_events()
    events[0] = replace(events[0], tokenizer="char", vocab_size=65)
    other = write_run(tmp_path, "char-run", events)
    fake = FakeEngine()
    app, _ = make_app(fake, compare=[other])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await settle(pilot, lambda: app.query_one(LossChart).compared)
        await pilot.pause(0.1)
        messages = [n.message for n in app._notifications]
        assert any("not comparable" in m for m in messages)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compare", "nowhere"], "nowhere is not a run directory (no such folder)"),
        (["--compare", "notes"], "notes/config.json is missing: notes is not a run directory"),
        (["--compare", "fresh"], "fresh has no history to draw (events.jsonl is missing)"),
        (["--headless", "--compare", "fresh"], "--compare draws on the TUI's chart"),
        (["attach", "fresh", "--compare", "nowhere"], "nowhere is not a run directory"),
    ],
)
def test_compare_refuses_a_missing_or_unrelated_run_before_any_ui(tmp_path, args, message):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("not a run")
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "config.json").write_text(preset("seed").to_json())
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert isinstance(make_events()[0], TrainingStarted)


def test_a_run_folders_name_reaches_the_screen_without_control_characters(tmp_path):
    run = ComparedRun(path=tmp_path / "run\x1b[2Jcleared", history=LossHistory())
    assert "\x1b" not in run.name and "cleared" in run.name


async def test_a_compared_run_that_is_still_training_keeps_growing(tmp_path, monkeypatch):
    """#24: --compare read a run that was still training once, so its curve stopped growing."""
    monkeypatch.setattr(TrainView, "follow_s", 0.1)
    events = make_events(steps=500, max_steps=500, finished=True)
    first = [
        e for e in events if getattr(e, "step", 0) <= 200 and not isinstance(e, TrainingFinished)
    ]
    other = write_run(tmp_path, "training", first)
    log = other / "events.jsonl"
    fake = FakeEngine()
    app, _ = make_app(fake, compare=[other])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: len(chart.compared) == 1)
        run = chart.compared[0]
        assert run.history.steps[-1] == 200 and not run.state.ended
        drawn = run.key
        more = [e for e in events[len(first) :] if getattr(e, "step", 0) <= 400]
        torn = events[len(first) + len(more)].to_json()[:20]  # a write still under way
        with log.open("a", encoding="utf-8") as file:
            file.write("".join(e.to_json() + "\n" for e in more) + torn)
        await settle(pilot, lambda: run.history.steps[-1] == 400)
        assert run.key != drawn and len(run.history.val) == 4
        with log.open("a", encoding="utf-8") as file:  # the torn line completed, then the end
            rest = events[len(first) + len(more) :]
            file.write(
                rest[0].to_json()[20:] + "\n" + "".join(e.to_json() + "\n" for e in rest[1:])
            )
        await settle(pilot, lambda: run.state.ended)
        assert run.history.steps[-1] == 500 and len(run.history.val) == 5
