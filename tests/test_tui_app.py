"""Pilot tests: every view and binding of the TUI, driven by a FakeEngine."""

from __future__ import annotations

import threading

from textual.app import App
from textual.widgets import Input

from engine import (
    EngineError,
    EngineFailed,
    GeneratedToken,
    LossNotFinite,
    PauseCause,
    RunState,
    TrainingPaused,
)
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.app import LlmLearnsApp
from tui.screens.help import HelpScreen
from tui.screens.new_run import NewRunScreen
from tui.screens.quit import QuitScreen
from tui.views.attention import AttentionView
from tui.widgets.attention_bars import AttentionBars
from tui.widgets.candidate_bars import CandidateBars
from tui.widgets.generation_output import GenerationOutput
from tui.widgets.head_grid import HeadGrid
from tui.widgets.heatmap import AttentionHeatmap
from tui.widgets.key_hints import KeyHints
from tui.widgets.loss_chart import LossChart
from tui.widgets.run_header import RunHeader
from tui.widgets.sample_log import SampleLog
from tui.widgets.stats_panel import StatsPanel
from tui.widgets.view_tabs import ViewTabs


async def test_events_fill_header_chart_stats_and_samples():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        header = app.query_one(RunHeader)
        assert (header.step, header.max_steps, header.state) == (300, 600, "running")
        assert header.eta_s == 30.0  # 300 steps took 30 fake seconds, 300 remain
        chart = app.query_one(LossChart)
        assert len(chart.history) == 300 and len(chart.history.val) == 3
        assert chart.vocab_size == 50
        await settle(pilot, lambda: chart.draws > 0)
        assert chart.draws > 0
        assert app.query_one(StatsPanel).best_val is not None
        assert len(app.query_one(SampleLog).samples) == 3


async def test_replayed_history_arrives_in_few_batches():
    seen = []
    fake = FakeEngine(make_events(steps=3000, max_steps=3000))
    app = LlmLearnsApp(connect=lambda: fake)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await loaded(pilot, fake)
        batches = [m for m in seen if type(m).__name__ == "EventsReceived"]
        assert sum(len(m.events) for m in batches) == len(fake._events)
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
        await pilot.press("1")
        # The switch itself shows the kept drawing: a redraw comes only with a tick's new data...
        assert chart.draws == before or chart.shown_version == chart.data_version
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


async def test_pause_save_and_sample_call_the_client():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("space", "s", "g")
        await settle(pilot, lambda: len(fake.calls) >= 3)
        assert {"pause", "save", "sample_now"} <= set(fake.calls)


async def test_space_pauses_then_resumes_as_the_engine_reports():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        header = app.query_one(RunHeader)
        assert header.state == "running"
        await pilot.press("space")
        await settle(pilot, lambda: header.state == "paused")  # from the engine's TrainingPaused
        assert app.run_state is RunState.PAUSED
        await pilot.press("space")
        await settle(pilot, lambda: header.state == "running")
        assert fake.calls.count("pause") == 1 and fake.calls.count("resume") == 1


async def test_space_resumes_a_run_paused_before_the_app_attached():
    fake = FakeEngine(make_events() + [TrainingPaused(step=300)])
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        assert app.query_one(RunHeader).state == "paused"
        await pilot.press("space")
        await settle(pilot, lambda: app.query_one(RunHeader).state == "running")
        assert "resume" in fake.calls and "pause" not in fake.calls


async def test_number_keys_switch_views():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        tabs = app.query_one(ViewTabs)
        for key, view in [("2", "attention"), ("4", "learn"), ("1", "train")]:
            await pilot.press(key)
            assert app.current_view == view and tabs.active == view


async def test_clicking_a_view_name_switches_to_it():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        tabs = app.query_one(ViewTabs)
        x = tabs.render().plain.index("Generate") + tabs.styles.padding.left
        await pilot.click(ViewTabs, offset=(x, 0))
        await settle(pilot, lambda: app.current_view == "generate")
        assert app.current_view == "generate" and tabs.active == "generate"


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
        assert view.snapshot_index == 1 and "attention_at:200" in fake.calls


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
        await pilot.press("enter")
        output = app.query_one(GenerationOutput)
        await settle(pilot, lambda: len(output.tokens) == 30)
        assert output.text.startswith(" oh my love")
        assert output.unknown == ["zebra"]
        assert app.query_one(CandidateBars).token is output.tokens[-1]
        await pilot.press("escape", "left")
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


async def test_leave_input_hint_shows_only_while_typing():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        hints = app.query_one(KeyHints)
        await pilot.press("3")  # the prompt takes the keyboard
        await pilot.pause()
        assert isinstance(app.focused, Input) and "Leave input" in hints.render().plain
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.focused, Input) and "Leave input" not in hints.render().plain
        await pilot.press("1")
        assert app.current_view == "train"  # number keys work again


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
        assert not any(call.startswith("generate") for call in fake.calls)


async def test_generation_error_is_shown_not_raised():
    fake = FakeEngine(fail_generate="the model is not loaded yet")
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("3", "enter")
        await settle(pilot, lambda: "not loaded" in str(app.query_one("#gen-status").render()))
        assert "not loaded" in str(app.query_one("#gen-status").render())


async def test_quit_while_live_asks_and_detach_keeps_the_run():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, QuitScreen)
        await pilot.press("q", "d")
        await settle(pilot, lambda: "detach" in fake.calls)
    assert "detach" in fake.calls and "shutdown" not in fake.calls


async def test_quit_stop_shuts_the_worker_down():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("q", "s")
        await settle(pilot, lambda: "shutdown" in fake.calls)
    assert "shutdown" in fake.calls


async def test_quit_after_a_finished_run_does_not_ask():
    fake = FakeEngine(make_events(finished=True), live=False)
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        assert app.query_one(RunHeader).state == "finished"
        await pilot.press("q")
        await settle(pilot, lambda: "close" in fake.calls)
        assert not isinstance(app.screen, QuitScreen)


async def test_engine_failure_shows_reason_and_checkpoint():
    failed = EngineFailed(reason="CUDA out of memory", exit_code=1, last_checkpoint=None)
    fake = FakeEngine(make_events() + [failed], live=False)
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        notice = str(app.query_one("#notice").render())
        assert "CUDA out of memory" in notice and "fake-run/model.safetensors" in notice
        assert app.query_one(RunHeader).state == "failed"
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
        assert app.query_one(RunHeader).state == "paused"
        await pilot.press("space")
        await settle(pilot, lambda: app.query_one(RunHeader).state == "running")


async def test_connect_error_is_one_line_in_the_ui():
    def connect():
        raise EngineError("corpus /nope.txt does not exist")

    app = LlmLearnsApp(connect=connect)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.query_one("#notice").display)
        assert "corpus /nope.txt does not exist" in str(app.query_one("#notice").render())
        assert app.query_one(RunHeader).state == "failed"


async def test_help_links_to_the_learn_view():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2", "question_mark")
        assert isinstance(app.screen, HelpScreen) and app.screen.view == "attention"
        await pilot.press("down", "enter")  # second term: keys, queries and values
        await pilot.pause(0.2)
        assert app.current_view == "learn"


async def test_new_run_validates_and_starts():
    started = []
    app = LlmLearnsApp(
        connect=lambda: FakeEngine(),
        start_new=lambda config: started.append(config) or FakeEngine(),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        screen = app.screen
        assert isinstance(screen, NewRunScreen)
        screen.query_one("#f-model-n_embd", Input).value = "30"
        screen.query_one("#f-model-n_head", Input).value = "4"
        await pilot.pause()
        assert "not divisible" in screen.problems
        assert screen.query_one("#f-model-n_embd").has_class("-invalid")
        assert screen.query_one("#newrun-start").disabled
        screen.query_one("#f-model-n_embd", Input).value = "32"
        await pilot.pause()
        assert screen.problems == ""
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: started and app.client is not None)
        assert started[0].model.n_embd == 32 and started[0].model.n_head == 4


async def test_command_palette_offers_the_actions():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert {"Save a checkpoint", "Sample now", "New run", "Quit llm-learns"} <= set(titles)


async def test_too_small_terminal_shows_a_notice():
    app, fake = make_app()
    async with app.run_test(size=(50, 15)) as pilot:
        await loaded(pilot, fake)
        assert app.query_one("#too-small").display is True or app.screen.has_class("-too-narrow")
        assert app.query_one("#too-small").styles.display == "block"
        assert app.query_one("#main").styles.display == "none"
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert app.query_one("#main").styles.display == "block"


async def test_a_new_run_says_it_is_starting_not_that_the_old_one_disconnected():
    old = FakeEngine()
    gate = threading.Event()

    def start_new(config):
        gate.wait(timeout=5)  # a worker takes a moment to start
        return FakeEngine()

    app = LlmLearnsApp(connect=lambda: old, start_new=start_new)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, old)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("ctrl+s")
        # The old run's stream closes while the new worker starts: that is no disconnection.
        await settle(pilot, lambda: "close" in old.calls)
        await pilot.pause(0.7)  # the old stream's last batch would have arrived by now
        assert app.query_one(RunHeader).state == "starting a new run"
        assert not app.query_one("#notice").display
        gate.set()
        await settle(pilot, lambda: app.query_one(RunHeader).state == "running")
        assert not app.query_one("#notice").display
