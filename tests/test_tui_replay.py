"""Replay: a run's history played back from step 0, every view showing the replayed step, Generate
and Inside asking the weights kept nearest before it, and one key back to live."""

from __future__ import annotations

import pytest

from engine import EvalCompleted, SampleGenerated, StepCompleted
from tests.test_learn_reach import links_on_screen
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.views.attention import AttentionView
from tui.views.generate import GenerateView
from tui.views.inside import InsideView
from tui.widgets.shell.replay_bar import ReplayBar
from tui.widgets.train.loss_chart import LossChart
from tui.widgets.train.sample_log import SampleLine
from tui.widgets.train.stats_panel import StatsPanel

SEED_STEPS, SEED_EVAL = 1_500, 300  # the seed preset's run: an eval (and kept weights) every 300


class SeedRun(FakeEngine):
    """A finished run shaped like the seed preset's: 1,500 steps, an eval every 300 from step 0,
    attention snapshots and kept weights at each."""

    def __init__(self, live: bool = False) -> None:
        events = make_events(SEED_STEPS, SEED_STEPS, SEED_EVAL, finished=not live)
        super().__init__(events, live=live)

    def attention_steps(self) -> list[int]:
        return list(range(0, SEED_STEPS + 1, SEED_EVAL))

    def kept_steps(self) -> list[int]:
        return list(range(0, SEED_STEPS + 1, SEED_EVAL))


def replay_app(fake: FakeEngine, **kwargs):
    """The app on `fake`, its replay timer stopped: the tests move the clock (a loaded machine
    would otherwise move it between a key and the check)."""
    app, _ = make_app(fake, **kwargs)
    app.replay_tick_s = 3600
    return app, fake


def step_event(fake: FakeEngine, step: int) -> StepCompleted:
    return next(e for e in fake._events if isinstance(e, StepCompleted) and e.step == step)


def bar_text(app) -> str:
    return str(app.query_one(ReplayBar).render())


async def replay_to(pilot, step: int) -> None:
    """Start the replay (p), pause it, and go to `step`."""
    app = pilot.app
    await pilot.press("p")
    await settle(pilot, lambda: app.replay.replaying)
    await pilot.press("space")
    assert not app.replay.playing
    app.replay.seek(step)
    await pilot.pause()


async def test_a_finished_seed_run_replayed_to_step_300_shows_step_300_everywhere():
    app, fake = replay_app(SeedRun())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        assert not app.query_one(ReplayBar).display  # nothing says "replaying" while live
        await pilot.press("p")
        await settle(pilot, lambda: app.replay.replaying)
        assert app.replay.step == 0 and app.replay.playing
        await pilot.press("space")  # space pauses the replay, not the run
        assert not app.replay.playing and not fake.asked(fake.pause)
        await pilot.press("right")  # the next eval: step 300
        assert app.replay.step == 300
        assert "replaying step 300 of 1,500" in bar_text(app)

        chart = app.query_one(LossChart)
        await settle(pilot, lambda: chart.drawn_last is not None and chart.drawn_last[0] == 300)
        history = chart.history
        assert chart.drawn_last == (300, history.ema[history.steps.index(300)])
        assert max(step for step, _ in chart.shown_history().val) == 300

        step = step_event(fake, 300)
        values = app.query_one(StatsPanel).values()
        assert values["loss"] == f"[b]{step.loss:.4f}[/b]"
        assert values["grad norm"] == f"{step.grad_norm:.3f}"
        assert values["tokens"] == f"{step.tokens_seen:,}"
        evals = [e for e in fake._events if isinstance(e, EvalCompleted) and e.step <= 300]
        assert values["val−train"] == f"{evals[-1].val_loss - evals[-1].train_loss:+.4f}"
        best = min(evals, key=lambda e: e.val_loss)
        assert values["best val"].startswith(f"{best.val_loss:.3f} @{best.step}")

        lines = list(app.query(SampleLine))
        shown = [line.step for line in lines if line.display]
        assert shown == [300]  # make_events samples at each eval after step 0
        assert [line.step for line in lines if line.has_class("latest")] == [300]

        await pilot.press("2")
        view = app.query_one(AttentionView)
        await settle(pilot, lambda: view.amap is not None and view.amap.step == 300)
        assert view.amap.step == 300 and (300,) in fake.asked(fake.attention_at)
        info = str(view.query_one("#attn-info").render())
        assert "of the probe · step 300" in info
        app.replay.seek(450)  # between two snapshots: the one before
        await settle(
            pilot, lambda: "at or before 450" in str(view.query_one("#attn-info").render())
        )
        assert view.amap.step == 300
        await pilot.press("right")  # ←/→ here move the replay by eval too
        await settle(pilot, lambda: view.amap.step == 600)
        assert app.replay.step == 600


async def test_the_mark_says_replaying_and_links_its_explanation():
    app, fake = replay_app(SeedRun())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await replay_to(pilot, 300)
        assert "Replay and kept weights" in links_on_screen(app.screen)
        text = bar_text(app)
        assert "esc live" in text and "space play" in text and "f speed" in text
        assert "←/→ eval" in text
    app, fake = replay_app(SeedRun())
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        await replay_to(pilot, 300)
        text = bar_text(app)
        assert "replaying step 300 of 1,500" in text and "esc live" in text  # always whole


async def test_esc_goes_back_to_live_in_every_view():
    app, fake = replay_app(SeedRun())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await replay_to(pilot, 300)
        await pilot.press("escape")
        assert not app.replay.replaying and not app.query_one(ReplayBar).display
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: chart.drawn_last is not None and chart.drawn_last[0] == 1500)
        assert app.query_one(StatsPanel).values()["tokens"] == f"{1500 * 96:,}"
        assert all(line.display for line in app.query(SampleLine))
        await pilot.press("2")
        view = app.query_one(AttentionView)
        await settle(pilot, lambda: view.amap is not None and view.snapshot_index is None)
        assert fake.asked_at(fake.attention)[-1] is None  # live: the model now


async def test_generate_asks_the_replayed_step_and_says_whose_weights_wrote_it():
    app, fake = replay_app(SeedRun())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await replay_to(pilot, 450)
        await pilot.press("3")
        status = app.query_one("#gen-status")
        assert "replaying step 450" in str(status.render())
        assert "</> eval" in bar_text(app)  # ←/→ pick tokens here
        await pilot.press("greater_than_sign", "less_than_sign")
        assert app.replay.step == 300
        app.replay.seek(450)
        await pilot.pause()
        await pilot.press("enter", "enter")
        view = app.query_one(GenerateView)
        await settle(pilot, lambda: not view.generating)
        assert fake.asked_at(fake.generate) == [450]
        text = str(status.render())
        assert "step 300's kept weights (the nearest kept before 450)" in text
        app.replay.seek(600)  # an eval's own weights: nothing "nearest" to say
        await pilot.pause()
        await pilot.press("enter", "enter")
        await settle(pilot, lambda: len(fake.asked_at(fake.generate)) == 2 and not view.generating)
        text = str(status.render())
        assert "step 600's kept weights" in text and "nearest" not in text
        await pilot.press("escape")  # the prompt gave the keyboard back: esc goes live
        assert not app.replay.replaying
        await pilot.press("enter", "enter")
        await settle(pilot, lambda: len(fake.asked_at(fake.generate)) == 3 and not view.generating)
        assert fake.asked_at(fake.generate)[-1] is None
        assert "kept weights" not in str(status.render())


async def test_inside_traces_the_kept_weights_and_asks_again_only_when_they_change():
    app, fake = replay_app(SeedRun())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await replay_to(pilot, 450)
        await pilot.press("5")
        view = app.query_one(InsideView)
        await settle(pilot, lambda: view.trace is not None)
        assert fake.asked_at(fake.trace) == [450] and view.trace.step == 300
        info = str(view.query_one("#inside-info").render())
        assert "kept weights of step 300 (nearest before 450)" in info
        app.replay.seek(500)  # the same kept weights: no new trace, a new note
        await pilot.pause()
        await settle(pilot, lambda: "before 500" in str(view.query_one("#inside-info").render()))
        assert fake.asked_at(fake.trace) == [450]
        app.replay.seek(700)
        await settle(pilot, lambda: view.trace.step == 600)
        assert fake.asked_at(fake.trace) == [450, 700]
        await pilot.press("escape")
        await settle(pilot, lambda: view.trace.step == 1500)
        assert fake.asked_at(fake.trace)[-1] is None
        assert "kept weights" not in str(view.query_one("#inside-info").render())


async def test_a_replay_plays_at_its_pace_and_stops_at_the_end():
    app, fake = replay_app(SeedRun())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await replay_to(pilot, 0)
        clock = app.replay
        assert clock.speed.label == "1 eval/s"
        await pilot.press("space")
        clock.tick(0.5)  # half an eval
        assert clock.step == 150
        await pilot.press("f")
        assert clock.speed.label == "×0.1" and "×0.1" in bar_text(app)
        clock.tick(10.0)  # a second of the run's training time: 10 steps of make_events
        assert clock.step == 160
        for _ in range(3):
            await pilot.press("f")
        assert clock.speed.label == "×100"
        clock.tick(100.0)
        assert clock.step == 1500 and not clock.playing
        assert "replaying step 1,500 of 1,500" in bar_text(app)
        await pilot.press("space")  # at the end, play starts over
        assert clock.step == 0 and clock.playing


async def test_a_live_run_trains_on_while_its_past_is_replayed():
    app, fake = replay_app(SeedRun(live=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await replay_to(pilot, 300)
        fake.emit(StepCompleted(1501, 1.0, 1e-3, 0.5, 1000.0, 150.1, 1501 * 96))
        fake.emit(EvalCompleted(1501, 1.1, 1.2))
        fake.emit(SampleGenerated(1501, "oh", "oh my"))
        await settle(pilot, lambda: app.replay.end == 1501)
        assert "replaying step 300 of 1,501" in bar_text(app)
        assert app.query_one(StatsPanel).values()["tokens"] == f"{300 * 96:,}"
        assert [line.step for line in app.query(SampleLine) if line.display] == [300]
        assert str(app.query_one("#run-step").render()) == "step 1,501/1,500"  # the run's
        await pilot.press("escape")
        assert app.query_one(StatsPanel).values()["tokens"] == f"{1501 * 96:,}"


async def test_the_slider_jumps_to_the_step_clicked():
    app, fake = replay_app(SeedRun())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await replay_to(pilot, 0)
        bar = app.query_one(ReplayBar)
        start, room = bar._slider
        await pilot.click(ReplayBar, offset=(start + room // 2 - 1, 0))
        assert abs(app.replay.step - 750) <= SEED_STEPS / room + 1


async def test_replay_waits_for_the_history_and_the_palette_offers_it():
    app, fake = replay_app(SeedRun())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Replay the run from step 0" in titles
    app, fake = replay_app(SeedRun(), replay=True)  # `llmlearns-tui replay RUN_DIR`
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await settle(pilot, lambda: app.replay.replaying)
        assert app.replay.playing and app.replay.step == 0


async def test_a_playing_replay_moves_on_by_itself():
    app, fake = make_app(SeedRun())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("p")
        await settle(pilot, lambda: (app.replay.step or 0) >= SEED_EVAL, timeout=10)
        assert app.replay.step >= SEED_EVAL  # one eval a second
        await pilot.press("space")
        paused = app.replay.step
        await pilot.pause(0.6)
        assert app.replay.step == paused and not app.replay.playing


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("view", ["1", "2"], ids=["train", "attention"])
def test_replay_layout(snap_compare, size, view):
    """The replay bar over the Train and Attention views, paused at step 450 of a seed run."""
    app, fake = replay_app(SeedRun())

    async def run_before(pilot) -> None:
        await loaded(pilot, fake)
        await replay_to(pilot, 450)
        await pilot.press(view)
        if view == "2":
            attention = app.query_one(AttentionView)
            await settle(  # the map, and the head roles of every snapshot
                pilot,
                lambda: (
                    attention.amap is not None
                    and attention.amap.step == 300
                    and len(attention.role_history) == len(fake.attention_steps())
                ),
            )
        await settle(pilot)
        await pilot.pause(0.6)  # the chart's redraw timer, once

    assert snap_compare(app, terminal_size=size, run_before=run_before)
