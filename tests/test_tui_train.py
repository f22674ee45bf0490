"""Pilot tests of the Train view's teaching marks: landmarks, best val, overfitting, the stats'
perplexity, epochs and parameter count, the lr schedule, and the Learn links of all of them."""

from __future__ import annotations

import math
from dataclasses import replace

from engine import EvalCompleted, StepCompleted, TrainingStarted
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.state.loss_history import LossHistory
from tui.views.train import TrainView
from tui.widgets.train.chart_legend import ChartLegend
from tui.widgets.train.loss_chart import LossChart
from tui.widgets.train.lr_schedule import LrSchedule, marker_line, schedule_bars
from tui.widgets.train.stats_panel import ROWS, StatsPanel


def chart_text(chart: LossChart) -> list[str]:
    return ["".join(segment.text for segment in line) for line in chart.kept_lines()]


def landmark_rows(chart: LossChart) -> int:
    """Rows of the plot crossed by a horizontal landmark line."""
    return sum(row.count("─") >= 20 for row in chart_text(chart)[1:-3])  # not the frame


def shaded_cells(chart: LossChart) -> int:
    """Cells with the overfitting shade behind them."""
    shade = chart._color("error", 0.8)
    return sum(
        len(segment.text)
        for line in chart.kept_lines()
        for segment in line
        if segment.style and segment.style.bgcolor and segment.style.bgcolor.triplet == shade
    )


def overfitting_events() -> list:
    """Train keeps falling; val falls until step 200, then rises."""
    events = [e for e in make_events(eval_every=100) if not isinstance(e, EvalCompleted)]
    evals = [(100, 2.0, 2.1), (200, 1.6, 1.8), (300, 1.4, 1.9), (400, 1.2, 2.0)]
    steps = [e for e in events if isinstance(e, StepCompleted)]
    last = steps[-1]
    events += [replace(last, step=s, tokens_seen=s * 96) for s in range(301, 401)]
    events += [EvalCompleted(step, train, val) for step, train, val in evals]
    return events


async def test_stats_show_perplexity_epochs_and_parameters():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        stats = app.query_one(StatsPanel)
        values = stats.values()
        last = stats.last
        assert values["perplexity"] == f"{math.exp(last.loss):.2f}"
        assert stats.epochs == 300 * 96 / 900  # tokens seen ÷ training tokens
        assert values["epochs"] == "32.00"
        assert values["params"] == "12.3k"
        assert values["best val"].endswith("@300")
        text = str(app.query_one("#stats-text").visual)
        for label in ROWS:
            assert label in text


async def test_the_chart_draws_the_counting_landmarks_and_names_them():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        assert [name for name, _, _ in chart.landmarks()] == ["ln V", "unigram", "bigram"]
        await settle(pilot, lambda: chart.draws > 0)
        assert landmark_rows(chart) == 3
        legend = str(app.query_one("#chart-legend", ChartLegend).visual)
        assert "unigram 3.30" in legend and "bigram 2.60" in legend and "ln V 3.91" in legend
        assert "loss, nats" in chart_text(chart)[-1]  # the y axis's label, on the bottom line


async def test_an_older_run_without_landmarks_draws_only_ln_v():
    events = make_events()
    events[0] = replace(events[0], unigram_loss=None, bigram_loss=None, lr_schedule=())
    app, fake = make_app(FakeEngine(events))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: chart.draws > 0)
        assert landmark_rows(chart) == 1
        assert "unigram" not in str(app.query_one("#chart-legend", ChartLegend).visual)


async def test_the_best_val_is_marked_once_and_overfitting_is_shaded():
    app, fake = make_app(FakeEngine(overfitting_events()))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        assert chart.history.best_val() == (200, 1.8)
        assert chart.history.overfit_spans() == [(200, 400)]
        await settle(pilot, lambda: chart.draws > 0)
        rows = chart_text(chart)
        assert sum(row.count("◆") for row in rows) == 1
        assert shaded_cells(chart) > 100
        assert sum(row.count("○") for row in rows) >= 3  # train measured at the evals


async def test_no_shading_while_val_falls():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: chart.draws > 0)
        assert not chart.history.overfit_spans()
        assert shaded_cells(chart) == 0


def test_overfitting_needs_val_up_and_train_down():
    history = LossHistory()
    history.add_eval(100, 2.0, 1.9)
    history.add_eval(200, 2.2, 2.1)  # both rise: a bad step, not memorising
    history.add_eval(300, 2.3, 1.8)  # val up, train down
    history.add_eval(400, 2.4, 1.7)  # again: the span grows
    history.add_eval(500, 2.1, 1.6)  # val falls again
    assert history.overfit_spans() == [(200, 400)]


def test_the_schedule_is_drawn_with_a_marker_where_training_is():
    bars = schedule_bars((0.0, 1.0, 0.5, 0.0), 4)
    assert bars == "▁█▅▁"
    assert marker_line(0, 22) == "▲ you are here"
    assert marker_line(21, 22).endswith("you are here ▲") and len(marker_line(21, 22)) == 22
    line = marker_line(10, 22)
    assert line.index("▲") == 10 and "here" in line


async def test_the_schedule_marker_follows_the_step():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        schedule = app.query_one(LrSchedule)
        width = schedule.content_region.width
        assert schedule.max_steps == 600 and schedule.step == 300
        lines = str(schedule.visual).splitlines()
        assert len(lines[0]) == width and lines[1].index("▲") == schedule.here_column(width)
        assert schedule.here_column(width) == round(0.5 * (width - 1))


async def test_stats_labels_and_legend_entries_open_their_learn_entries():
    app, fake = make_app()
    opened: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        app.action_learn = lambda heading: opened.append(heading)
        await pilot.click("#stats-text", offset=(2, 1))  # the perplexity row
        legend = str(app.query_one("#chart-legend", ChartLegend).visual).splitlines()[0]
        await pilot.click("#chart-legend", offset=(1 + legend.index("val") + 1, 0))
        await pilot.click(LrSchedule, offset=(3, 0))
        await pilot.pause()
        assert opened == ["Perplexity", "Train and validation loss", "Warmup and cosine schedule"]


def test_the_help_lists_every_term_the_view_links_to():
    app, _ = make_app()
    chart = LossChart()
    chart.vocab_size, chart.unigram, chart.bigram = 50, 3.0, 2.0
    linked = set(ROWS.values()) | {entry.heading for entry in chart.legend()}
    linked.add("Warmup and cosine schedule")
    assert linked <= set(TrainView.HELP.terms)


async def test_the_legend_and_y_label_fit_at_80x24():
    app, fake = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: chart.draws > 0)
        legend = app.query_one("#chart-legend", ChartLegend)
        lines = str(legend.visual).splitlines()
        assert legend.size.height == len(lines) <= 3
        assert all(len(line) <= legend.content_region.width for line in lines)
        assert "bigram" in lines[-1]
        assert "loss, nats" in chart_text(chart)[-1]
        assert isinstance(fake._events[0], TrainingStarted)
