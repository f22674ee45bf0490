"""Pilot tests of the TUI's views: events into the header, chart, attention, generation, samples."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input

from engine import (
    EngineError,
    EngineFailed,
    EvalCompleted,
    GeneratedToken,
    LossNotFinite,
    PauseCause,
    SampleGenerated,
    TrainingPaused,
)
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui import app as tui_app
from tui.app import LlmLearnsApp
from tui.views.attention import AttentionView
from tui.views.registry import VIEWS
from tui.views.view import View
from tui.widgets.attention.attention_bars import AttentionBars
from tui.widgets.attention.head_grid import HeadGrid
from tui.widgets.attention.heatmap import AttentionHeatmap
from tui.widgets.generate.candidate_bars import CandidateBars
from tui.widgets.generate.generation_output import GenerationOutput
from tui.widgets.shell.run_header import RunHeader
from tui.widgets.train.loss_chart import LossChart
from tui.widgets.train.sample_log import KEEP as SAMPLES_KEPT
from tui.widgets.train.sample_log import SampleLog
from tui.widgets.train.stats_panel import StatsPanel


async def test_events_fill_header_chart_stats_and_samples():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        header = app.query_one(RunHeader)
        assert (header.step, header.max_steps, header.word) == (300, 600, "running")
        # The last 10 s of training time held 100 steps: 300 remain, at 10 steps a second.
        assert header.eta_s == pytest.approx(30.0)
        chart = app.query_one(LossChart)
        assert len(chart.history) == 300 and len(chart.history.val) == 3
        assert chart.vocab_size == 50
        await settle(pilot, lambda: chart.draws > 0)
        assert chart.draws > 0
        assert app.query_one(StatsPanel).best_val is not None
        assert len(app.query_one(SampleLog).samples) == 3


async def test_deferred_views_mount_after_the_first_frame_and_miss_no_event():
    """The command line's app composes the Train view alone and mounts the rest just after its
    first frame; every view is there before the first event, and a key pressed before then
    takes effect once it is."""
    composed: list[str] = []

    class Watching(LlmLearnsApp):
        CSS_PATH = str(Path(tui_app.__file__).with_name("app.tcss"))

        def on_mount(self) -> None:
            # Textual calls LlmLearnsApp.on_mount too, after this one (each class's handler)
            composed.extend(str(view.id) for view in self.query("#views > *"))
            self.action_view("learning")  # a key pressed before the Learning view is mounted

    fake = FakeEngine()
    app = Watching(connect=lambda: fake, defer_views=True)
    app.event_batch_s = 0.05
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        assert composed == [VIEWS[0].id]
        views = [app.query_one(f"#{entry.id}", View) for entry in VIEWS]
        assert all(view.client is fake for view in views)  # each saw the whole history
        # the early key took effect once the view was there
        assert [view.display for view in views] == [entry.id == "learning" for entry in VIEWS]
        await pilot.press("2")
        await settle(pilot)
        assert app.query_one(AttentionView).display and not views[5].display


async def test_replayed_history_arrives_in_few_batches():
    seen = []
    fake = FakeEngine(make_events(steps=3000, max_steps=3000))
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await loaded(pilot, fake)
        batches = [m for m in seen if type(m).__name__ == "EventsReceived"]
        assert sum(len(m.events) for m in batches) == len(fake._events) + 1  # and the mark
        assert len(batches) < 50  # thousands of events, a handful of messages


async def test_chart_redraws_are_rate_limited():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        before = chart.draws
        for step in range(301, 801):  # 500 steps in one burst
            chart.history.add_step(step, 1.0, step * 96)
            chart.mark_dirty()
        await pilot.pause(0.6)
        assert chart.draws - before <= 4


async def test_hidden_chart_waits_and_catches_up_when_shown():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: chart.shown_version == chart.data_version)
        await pilot.pause(0.1)  # drawn
        await pilot.press("2")
        before = chart.draws
        chart.history.add_step(301, 1.0, 301 * 96)
        chart.mark_dirty()
        await pilot.pause(1.2)  # two ticks: nothing is drawn for a view nobody sees
        assert chart.draws == before
        assert chart.shown_version != chart.data_version
        chart.redraw_timer.pause()  # no tick may come between the switch and the check
        await pilot.press("1")
        await pilot.pause()
        # The switch itself shows the kept drawing: a redraw comes only with a tick's new data...
        assert chart.draws == before and chart.region.width > 0
        chart.redraw_timer.resume()
        await settle(pilot, lambda: chart.draws > before)
        assert chart.shown_version == chart.data_version  # ...and the next tick updates it


async def test_chart_keys_toggle_log_axis_and_smoothing():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        beta = chart.history.smoothing
        await pilot.press("l", "x", "right_square_bracket")
        assert chart.log_y and chart.x_tokens and chart.history.smoothing > beta
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert chart.history.smoothing < beta


async def test_attention_heatmap_has_a_cell_per_token_pair():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2")
        heatmap = app.query_one(AttentionHeatmap)
        await settle(pilot, lambda: heatmap.tokens)
        T = len(heatmap.tokens)
        assert T > 2 and heatmap.cell_count == T * T
        assert len(app.query_one(HeadGrid).maps) == 2
        assert app.query_one(AttentionBars).items  # where the cursor's token looks


async def test_attention_keys_move_query_head_and_scrub_snapshots():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2")
        view = app.query_one(AttentionView)
        await settle(pilot, lambda: view.amap is not None)
        await pilot.press("down", "down")
        assert app.query_one(AttentionHeatmap).query_index == 2
        assert app.query_one(AttentionBars).query_token == view.amap.tokens[2]
        await pilot.press("right_square_bracket")
        assert view.head_index == 1
        await pilot.press("left")
        await settle(pilot, lambda: view.amap.step == 300 and view.snapshot_index == 2)
        await pilot.press("left")
        await settle(pilot, lambda: view.amap.step == 200)
        assert view.snapshot_index == 1 and (200,) in fake.asked(fake.attention_at)


async def test_attention_input_fetches_the_typed_text():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2")
        app.query_one("#attn-input", Input).value = "my zebra love"
        app.query_one("#attn-input", Input).focus()
        await pilot.press("enter")
        view = app.query_one(AttentionView)
        await settle(pilot, lambda: view.amap is not None and len(view.amap.tokens) == 3)
        assert view.amap.unknown == ["zebra"]
        assert app.query_one(AttentionHeatmap).cell_count == 9


async def test_generation_streams_tokens_and_candidates():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("3")
        app.query_one("#gen-prompt", Input).value = "oh zebra"
        await pilot.press("enter", "enter")  # the first gives the prompt the keyboard
        output = app.query_one(GenerationOutput)
        await settle(pilot, lambda: len(output.tokens) == 30)
        assert output.text.startswith(" oh my love")
        assert output.unknown == ["zebra"]
        assert app.query_one(CandidateBars).token is output.tokens[-1]
        assert app.focused is output  # submitting gives the keyboard back
        await pilot.press("left")
        assert app.query_one(CandidateBars).index == 28


async def test_generated_text_grows_a_line_as_it_wraps():
    class OutputOnly(App):
        CSS = "GenerationOutput { height: auto; }"  # as in the Generate view

        def compose(self):
            yield GenerationOutput()

    app = OutputOnly()
    async with app.run_test(size=(40, 10)) as pilot:
        output = app.query_one(GenerationOutput)
        output.start("oh")
        heights = []
        for word in ["my", "love", "you", "are", "the", "one", "i", "need", "so", "sweet"] * 2:
            output.add(GeneratedToken(0, f" {word}", 0.5, ()))
            await pilot.pause()
            heights.append(output.size.height)
            assert heights[-1] == len(output.render().wrap(app.console, output.size.width))
        assert heights[0] == 1 and heights[-1] > 1


async def test_generation_settings_are_validated_inline():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("3")
        app.query_one("#gen-top_p", Input).value = "2"
        app.query_one("#gen-prompt", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "top_p" in str(app.query_one("#gen-status").render())
        assert fake.asked(fake.generate) == []


async def test_generation_error_is_shown_not_raised():
    fake = FakeEngine(fail_generate="the model is not loaded yet")
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("3", "enter", "enter")
        await settle(pilot, lambda: "not loaded" in str(app.query_one("#gen-status").render()))
        assert "not loaded" in str(app.query_one("#gen-status").render())


async def test_engine_failure_shows_reason_and_checkpoint():
    failed = EngineFailed(reason="CUDA out of memory", exit_code=1, last_checkpoint=None)
    fake = FakeEngine(make_events() + [failed], live=False)
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        notice = str(app.query_one("#notice").render())
        assert "CUDA out of memory" in notice and "fake-run/model.safetensors" in notice
        assert app.query_one(RunHeader).word == "failed"
        await pilot.press("2")  # history stays browsable
        assert app.current_view == "attention"


async def test_a_non_finite_step_pauses_with_what_it_was_and_the_last_checkpoint():
    events = make_events() + [
        LossNotFinite(step=301, loss=2.5, grad_norm=float("inf"), what="gradient norm"),
        TrainingPaused(step=300, cause=PauseCause.NOT_FINITE, detail="(engine wording)"),
    ]
    fake = FakeEngine(events)
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        notice = str(app.query_one("#notice").render())
        assert "gradient norm became inf at step 301" in notice  # not "the loss": it was finite
        assert "last checkpoint: /tmp/fake-run/model.safetensors" in notice  # from the history
        assert app.query_one(RunHeader).word == "paused"
        await pilot.press("space")
        await settle(pilot, lambda: app.query_one(RunHeader).word == "running")


async def test_connect_error_is_one_line_in_the_ui():
    def connect():
        raise EngineError("corpus /nope.txt does not exist")

    app = LlmLearnsApp(connect=connect)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.query_one("#notice").display)
        assert "corpus /nope.txt does not exist" in str(app.query_one("#notice").render())
        assert app.query_one(RunHeader).word == "failed"


async def test_too_small_terminal_shows_a_notice():
    app, fake = make_app()
    async with app.run_test(size=(50, 15)) as pilot:
        await loaded(pilot, fake)
        assert app.screen.has_class("-too-narrow")
        assert app.query_one("#too-small").styles.display == "block"
        assert app.query_one("#main").styles.display == "none"
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert app.query_one("#main").styles.display == "block"


def plotted_cells(chart: LossChart) -> int:
    """Cells inside the chart's frame that hold a mark of a series (not axes, ticks or blanks)."""
    count = 0
    for line in chart.kept_lines():
        text = "".join(segment.text for segment in line)
        if "│" in text:  # a row inside the frame
            inside = text[text.index("│") + 1 : text.rindex("│")]
            count += sum(char not in " -" for char in inside)
    return count


async def test_log_y_draws_the_curves():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        linear = plotted_cells(chart)
        await pilot.press("l")
        assert chart.log_y
        logarithmic = plotted_cells(chart)
        assert linear > 100 and logarithmic > linear // 2
        rows = ["".join(segment.text for segment in line) for line in chart.kept_lines()]
        labels = {row.split("┤")[0].strip() for row in rows if "┤" in row}
        assert {"2", "3"} <= labels  # ticks at round losses, not log10 values


async def test_scrubbing_shows_the_probe_the_snapshots_are_of():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2")
        view = app.query_one(AttentionView)
        field = app.query_one("#attn-input", Input)
        field.value = "my zebra love"
        await pilot.press("enter", "enter")  # take the keyboard, then submit
        await settle(pilot, lambda: view.amap is not None and len(view.amap.tokens) == 3)
        await pilot.press("left")
        await settle(pilot, lambda: view.snapshot_index == 2 and view.amap.step == 300)
        assert field.value == "oh my love you are"  # the run's probe, as TrainingStarted said
        assert "of the probe" in str(app.query_one("#attn-info").render())
        await pilot.press("right")
        await settle(pilot, lambda: view.snapshot_index is None and len(view.amap.tokens) == 3)
        assert field.value == "my zebra love"


@pytest.mark.parametrize("probe", ["oh my love you are", " ".join(["oh my love you"] * 4)])
async def test_head_grid_shows_every_head_at_80x24(probe):
    fake = FakeEngine(make_events(n_head=6), n_head=6)
    app, _ = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2")
        view = app.query_one(AttentionView)
        app.query_one("#attn-input", Input).value = probe
        await pilot.press("enter", "enter")
        T = len(probe.split())
        await settle(pilot, lambda: view.amap is not None and view.amap.shape[2] == T)
        grid = app.query_one(HeadGrid)
        await pilot.pause()
        lines = grid.render().plain.splitlines()
        assert len(lines) <= grid.size.height
        assert all(f"h{head}" in grid.render().plain for head in range(6))
        assert max(len(line.rstrip()) for line in lines) <= grid.size.width


HOSTILE = "\x1b]0;owned\x07\x1b[2J[bold]big[/]"


async def test_hostile_text_is_never_drawn_raw():
    started = replace(make_events()[0], preset=HOSTILE, probe=HOSTILE)
    failed = EngineFailed(reason=HOSTILE, exit_code=1, last_checkpoint=None)
    fake = FakeEngine([started, *make_events()[1:], failed], live=False)
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2")
        probe = app.query_one("#attn-input", Input)
        assert probe.value == HOSTILE  # the text as it came; only what is drawn changes
        shown = [
            str(app.query_one("#run-state").render()),
            str(app.query_one("#notice").render()),
            probe.render_line(0).text,
        ]
        await pilot.press("3")
        app.query_one("#gen-prompt", Input).value = HOSTILE
        await pilot.press("enter", "enter")
        output = app.query_one(GenerationOutput)
        await settle(pilot, lambda: len(output.tokens) == 30)
        assert fake.asked(fake.generate)[-1][0] == HOSTILE
        shown += [output.render().plain, str(app.query_one("#gen-status").render())]
        for text in shown:
            assert "\x1b" not in text and "\x07" not in text
            assert "␛" in text  # made visible, not dropped
        assert "[bold]big[/]" in shown[1]  # markup in a reason is shown, not applied
        assert "[bold]big[/]" in shown[-1]  # nor in the words the vocabulary lacks


def test_rate_window_averages_over_seconds_not_the_last_step():
    from tui.state.rate_window import RateWindow

    window = RateWindow(span=10.0)
    for step in range(1, 201):
        window.add(step * 0.1, step, step * 100)  # 10 steps a second
    window.add(20.0 + 5.0, 201, 20_100)  # one step that took 5 s (a busy CPU, say)
    assert 5 < window.steps_per_s < 10  # the last step alone would say 0.2
    assert 500 < window.tokens_per_s < 1000
    window.add(1.0, 10, 1000)  # resumed from an earlier checkpoint: start over
    assert window.steps_per_s is None


async def test_header_keeps_its_percent_at_80x24():
    events = make_events(max_steps=100_000)
    started = replace(events[0], preset="a-rather-long-preset-name", device="cuda:0")
    fake = FakeEngine([started, *events[1:]])
    app, _ = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        percent = app.query_one("#run-percent")
        assert str(percent.render()).strip() == "0%"
        assert percent.region.width == 4 and percent.region.right <= 80


def samples(first: int, count: int) -> list[SampleGenerated]:
    return [
        SampleGenerated(step=s, prompt="oh", text=f"oh sample {s}")
        for s in range(first, first + count)
    ]


class LogOnly(App):
    CSS = "SampleLog { height: 8; }"

    def compose(self):
        yield SampleLog()


async def test_samples_follow_the_newest_unless_scrolled_up():
    app = LogOnly()
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(SampleLog)
        log.ingest(samples(1, 30))
        await pilot.pause()
        await pilot.pause()
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y  # following
        log.scroll_home(animate=False)
        await pilot.pause()
        log.ingest(samples(31, 5))
        await pilot.pause()
        await pilot.pause()
        assert log.scroll_y == 0  # the user scrolled up: they stay there
        log.scroll_end(animate=False)
        await pilot.pause()
        log.ingest(samples(36, 5))
        await pilot.pause()
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y  # back at the bottom: following again


async def test_sample_log_keeps_the_last_samples_only():
    app = LogOnly()
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(SampleLog)
        for first in range(1, SAMPLES_KEPT + 100, 50):
            log.ingest(samples(first, 50))
            await pilot.pause()
        shown = log.query(".sample")
        assert len(shown) == SAMPLES_KEPT and len(log.samples) == SAMPLES_KEPT
        assert str(shown.last().render()).endswith(f"sample {log.samples[-1].step}")


def last_sample_on_screen(log: SampleLog) -> bool:
    """Whether the newest sample's line lies inside the panel's visible region."""
    last = log.query(".sample").last()
    return log.scroll_y >= log.max_scroll_y - 1 and log.region.contains_region(last.region)


async def test_samples_keep_following_after_another_view_was_shown():
    """#24: after a visit to another view the panel stayed on old samples, scrolled near the
    top, while the run went on. It follows the newest unless the user scrolled up."""
    fake = FakeEngine(make_events(steps=300, max_steps=6000))
    app, _ = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        log = app.query_one(SampleLog)
        step = 300
        for view in ("2", "1", "3", "1"):
            await pilot.press(view)
            for _ in range(6):  # samples arrive while that view is shown
                step += 100
                fake.emit(SampleGenerated(step=step, prompt="oh", text=f"oh sample {step}"))
            await settle(pilot, lambda s=step: log.samples[-1].step == s)
        await pilot.pause(0.2)
        assert str(log.query(".sample").last().render()).endswith("oh sample 2700")
        assert last_sample_on_screen(log)
        assert str(log.border_subtitle).startswith("↓ follows the newest · ")
        assert "older above: tab, ↑" in str(log.border_subtitle)


async def test_the_samples_panel_says_it_stopped_following_and_how_to_go_on():
    fake = FakeEngine(make_events(steps=300, max_steps=6000))
    app, _ = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        log = app.query_one(SampleLog)
        for step in range(400, 2000, 100):
            fake.emit(SampleGenerated(step=step, prompt="oh", text=f"oh sample {step}"))
        await settle(pilot, lambda: log.samples[-1].step == 1900)
        await pilot.pause(0.2)
        log.focus()
        await pilot.pause()
        await pilot.press("home")
        await pilot.pause()
        assert not log.follow and "end" in str(log.border_subtitle)
        await pilot.press("2", "1")
        fake.emit(SampleGenerated(step=2000, prompt="oh", text="oh sample 2000"))
        await settle(pilot, lambda: log.samples[-1].step == 2000)
        await pilot.pause(0.2)
        assert log.scroll_y == 0  # the user scrolled up: a view switch does not move them
        assert "newer below · end follows again" in str(log.border_subtitle)
        log.focus()  # the view switch gave the chart the keyboard
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause(0.2)
        assert log.follow and last_sample_on_screen(log)


async def test_the_attention_line_keeps_the_cut_and_lists_each_unknown_word_once():
    """#24: "… · cut to the" at 80 columns, and the unknown words repeated."""
    fake = FakeEngine()

    def attention(text, at_step=None):
        amap = FakeEngine.attention(fake, text, at_step)
        words = ["zebra", "xylophone", "zebra"] * 5 + [f"word{i}" for i in range(20)]
        return replace(amap, unknown=words, truncated=True)

    fake.attention = attention
    app, _ = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2")
        view = app.query_one(AttentionView)
        await settle(pilot, lambda: view.amap is not None)
        line = str(app.query_one("#attn-info").render())
        assert "cut to 5 tokens" in line
        assert line.count("zebra") <= 1 and "22 unknown" in line and len(line) <= 78


async def test_a_long_texts_map_says_which_rows_show_and_follows_the_query():
    """#24: char-small's heatmap showed 12 of 29 query rows with no sign that it scrolls."""
    words = " ".join(f"w{i}" for i in range(29))
    events = make_events()
    events[0] = replace(events[0], probe=words)
    fake = FakeEngine(events)
    app, _ = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2")
        view = app.query_one(AttentionView)
        await settle(pilot, lambda: view.amap is not None and len(view.amap.tokens) == 29)
        await pilot.pause(0.1)
        scroll = app.query_one("#attn-map-scroll")
        assert str(scroll.border_subtitle).startswith("rows 1–")
        assert "of 29 · ↑/↓ scroll" in str(scroll.border_subtitle)
        for _ in range(28):
            await pilot.press("down")
        await pilot.pause(0.1)
        heatmap = app.query_one(AttentionHeatmap)
        assert heatmap.query_index == 28
        rows, columns = heatmap.extent(scroll.scroll_x, scroll.scroll_y,
                                       *scroll.scrollable_content_region.size)  # fmt: skip
        assert 28 in rows and scroll.scroll_x == 0  # the query's row shows, and its label
        assert str(scroll.border_subtitle).startswith(f"rows {rows.start + 1}–29")


async def test_a_pretrained_model_opened_to_look_says_so_with_its_val_loss():
    """--init-from DIR --steps 0: no step is trained; the chart and stats say whose model it is."""
    started = replace(make_events(steps=0)[0], pretrained="/models/gpt2", max_steps=0)
    fake = FakeEngine([started, EvalCompleted(step=0, train_loss=3.41, val_loss=3.52)])
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        await settle(pilot, lambda: chart.draws > 0)
        title = chart.empty_title(chart.shown_history())
        assert title == "pretrained, not trained here: val 3.520 at step 0"
        values = app.query_one(StatsPanel).values()
        assert values["params"] == "12.3k GPT-2" and values["best val"] == "3.520 @0"
