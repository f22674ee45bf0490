"""Pilot tests of the TUI's controls: view keys, text fields, pause, quit, the palette, the
New-run form and help, driven by a FakeEngine."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from textual.command import CommandPalette
from textual.widgets import Input, Select, Tree

from engine import (
    PRESETS,
    RunState,
    StepCompleted,
    TrainingPaused,
    describe,
)
from tests.conftest import PATIENCE_S
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.app import LlmLearnsApp
from tui.screens.help import HelpScreen
from tui.screens.new_run import NewRunScreen
from tui.screens.quit import QuitScreen
from tui.views.registry import VIEWS
from tui.views.view import View
from tui.widgets.attention.heatmap import AttentionHeatmap
from tui.widgets.shell.key_hints import KeyHints
from tui.widgets.shell.run_header import RunHeader
from tui.widgets.shell.view_tabs import ViewTabs


async def test_pause_save_and_sample_call_the_client():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("space", "s", "g")
        wanted = (fake.pause, fake.save, fake.sample_now)
        await settle(pilot, lambda: all(fake.asked(m) for m in wanted))  # others may come between
        assert [len(fake.asked(m)) for m in wanted] == [1, 1, 1]


async def test_space_pauses_then_resumes_as_the_engine_reports():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        header = app.query_one(RunHeader)
        assert header.word == "running"
        await pilot.press("space")
        await settle(pilot, lambda: header.word == "paused")  # from the engine's TrainingPaused
        assert app.run_state is RunState.PAUSED
        await pilot.press("space")
        await settle(pilot, lambda: header.word == "running")
        assert len(fake.asked(fake.pause)) == 1 and len(fake.asked(fake.resume)) == 1


async def test_space_resumes_a_run_paused_before_the_app_attached():
    fake = FakeEngine(make_events() + [TrainingPaused(step=300)])
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        assert app.query_one(RunHeader).word == "paused"
        await pilot.press("space")
        await settle(pilot, lambda: app.query_one(RunHeader).word == "running")
        assert fake.asked(fake.resume) == [()] and fake.asked(fake.pause) == []


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


async def test_a_field_takes_keys_on_slash_and_escape_gives_them_back():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        hints = app.query_one(KeyHints)
        prompt = app.query_one("#gen-prompt", Input)
        await pilot.press("3")
        await pilot.pause()
        assert app.focused is not prompt and "Leave input" not in hints.render().plain
        await pilot.press("slash")
        await pilot.pause()
        assert app.focused is prompt and "Leave input" in hints.render().plain
        await pilot.press("end", "space", "1", "q")  # typing: these are text, not keys
        assert prompt.value == "oh 1q" and app.current_view == "generate"
        await pilot.press("f1")  # keys that type nothing still work
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.focused is prompt
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.focused, Input) and "Leave input" not in hints.render().plain
        await pilot.press("1")
        assert app.current_view == "train" and prompt.value == "oh 1q"


async def test_view_keys_work_from_every_view_with_the_prompt_holding_text():
    app, fake = make_app()
    views = [("1", "train"), ("2", "attention"), ("3", "generate"), ("4", "learn")]
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        prompt = app.query_one("#gen-prompt", Input)
        prompt.value = "oh my love"
        for start, _ in views:
            for key, view in views:
                await pilot.press(start)
                await pilot.pause()
                assert not isinstance(app.focused, Input)  # a view never gives a field keys
                await pilot.press(key)
                assert app.current_view == view and app.query_one(ViewTabs).active == view
                assert prompt.value == "oh my love"


async def test_enter_gives_the_attention_input_the_keyboard():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2")
        await pilot.pause()
        assert app.focused is app.query_one(AttentionHeatmap)
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is app.query_one("#attn-input", Input)
        await pilot.press("escape", "3")
        assert app.current_view == "generate"


async def test_ctrl_c_asks_on_a_live_run_even_from_a_text_field():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("3", "slash", "ctrl+c")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("ctrl+c")  # a second one does not stack another dialog
        assert len(app.screen_stack) == 2
        await pilot.press("escape")
        assert not isinstance(app.screen, QuitScreen)
        assert not any(fake.asked(m) for m in (fake.shutdown, fake.detach, fake.close))  # goes on


async def test_ctrl_c_quits_at_once_when_no_run_is_live():
    fake = FakeEngine(make_events(finished=True), live=False)
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("ctrl+c")
        await settle(pilot, lambda: fake.asked(fake.close))
        assert fake.asked(fake.close) and not isinstance(app.screen, QuitScreen)


async def test_quit_while_live_asks_and_detach_keeps_the_run():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, QuitScreen)
        await pilot.press("q", "d")
        await settle(pilot, lambda: fake.asked(fake.detach))
    assert fake.asked(fake.detach) and not fake.asked(fake.shutdown)


async def test_quit_stop_shuts_the_worker_down():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("q", "s")
        await settle(pilot, lambda: fake.asked(fake.shutdown))
    assert fake.asked(fake.shutdown) and not fake.asked(fake.detach)


async def test_quit_after_a_finished_run_does_not_ask():
    fake = FakeEngine(make_events(finished=True), live=False)
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        assert app.query_one(RunHeader).word == "finished"
        await pilot.press("q")
        await settle(pilot, lambda: fake.asked(fake.close))
        assert fake.asked(fake.close) and not isinstance(app.screen, QuitScreen)


def _stream_steps(fake: FakeEngine, streaming: threading.Event) -> None:
    """Steps into the fake's stream as fast as a small model makes them, while `streaming`."""
    step = 300
    while streaming.is_set() and not fake.closed.is_set():
        step += 1
        fake.emit(
            StepCompleted(
                step=step,
                loss=1.5,
                lr=1e-3,
                grad_norm=0.5,
                tokens_per_s=1e3,
                elapsed_s=step / 10,
                tokens_seen=step * 96,
            )
        )
        time.sleep(0.0005)


@pytest.mark.parametrize("attempt", range(3))  # a race: each attempt loses it most times
async def test_batches_arriving_while_the_app_is_torn_down_are_dropped(attempt):
    """The `NoMatches '#run-state'` seen while quitting. Textual can tear an app down without
    exit() (run_test's teardown does, and so does an unhandled error): it stops running, then
    removes the widgets while the event reader still posts batches, and routing one then reached
    a header whose labels were gone."""
    app, fake = make_app()
    app.event_batch_s = 0.001
    streaming = threading.Event()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        streaming.set()
        threading.Thread(target=_stream_steps, args=(fake, streaming), daemon=True).start()
        await settle(pilot, lambda: app.query_one(RunHeader).step > 310)
    streaming.clear()  # leaving run_test raised the error, if there was one


async def test_help_links_to_the_learn_view():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("2", "question_mark")
        assert isinstance(app.screen, HelpScreen) and app.screen.view == "attention"
        await pilot.press("down", "enter")  # second term: keys, queries and values
        await settle(pilot, lambda: app.current_view == "learn")
        assert app.current_view == "learn"


@pytest.mark.parametrize("defer_views", [False, True])
async def test_new_run_validates_and_starts(defer_views):
    started = []
    app = LlmLearnsApp(
        connect=lambda: FakeEngine(),
        start_new=lambda config: started.append(config) or FakeEngine(),
        defer_views=defer_views,  # the command line's app: its first views came after a frame
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
        assert [view.id for view in app.query(View)] == [entry.id for entry in VIEWS]


async def test_command_palette_offers_the_actions():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert {"Save a checkpoint", "Sample now", "New run", "Screenshot"} <= set(titles)
        assert [title for title in titles if "quit" in title.lower()] == ["Quit llm-learns"]
        assert titles.count("Screenshot") == 1


async def test_palette_quit_asks_on_a_live_run():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        commands = {command.title: command for command in app.get_system_commands(app.screen)}
        commands["Quit llm-learns"].callback()
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)


async def test_screenshot_command_saves_an_svg_in_the_run_and_says_where(tmp_path):
    seen = []
    fake = FakeEngine()
    fake.run_dir = tmp_path
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await loaded(pilot, fake)
        app.action_save_screenshot()
        await pilot.pause()
    saved = list(tmp_path.glob("*.svg"))
    assert len(saved) == 1 and saved[0].read_text().startswith("<svg")
    notices = [m.notification.message for m in seen if type(m).__name__ == "Notify"]
    assert any(str(saved[0]) in notice for notice in notices)


async def test_footer_says_resume_while_paused():
    fake = FakeEngine(make_events() + [TrainingPaused(step=300)])
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.pause()
        hints = app.query_one(KeyHints).render().plain
        assert "space Resume" in hints and "Pause" not in hints


async def test_footer_says_pause_while_running():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.pause()
        hints = app.query_one(KeyHints).render().plain
        assert "space Pause" in hints and "Resume" not in hints


async def test_the_footer_keeps_the_palette_key_at_80_columns():
    """The palette lists every action, so its key stays and a hint that does not fit goes (from
    the right, before Help and Quit); paused, Resume is one cell longer than Pause."""
    app, fake = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, fake)
        hints = app.query_one(KeyHints)
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            line = hints.render().plain
            assert line.endswith("^p palette") and "? Help" in line and "q Quit" in line, key
            assert len(line) < 80
        fake.pause()
        await settle(pilot, lambda: app.run_state is RunState.PAUSED)
        await pilot.press("1")
        line = hints.render().plain
        assert "space Resume" in line and line.endswith("^p palette") and len(line) < 80
        await pilot.click(KeyHints, offset=(line.index("palette"), 0))
        await settle(pilot, lambda: isinstance(app.screen, CommandPalette))
        assert isinstance(app.screen, CommandPalette)


async def test_the_palette_hint_keeps_its_space_in_a_picture_of_the_screen():
    """rsvg (SVG to PNG) drops the space that opens a text run: " palette" drew "^ppalette"."""
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        svg = app.export_screenshot()
        assert "palette" in svg and "&#160;palette" not in svg


async def test_learn_contents_key_focuses_the_list():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("4", "t")
        await settle(pilot, lambda: isinstance(app.focused, Tree))
        assert isinstance(app.focused, Tree)
        await pilot.press("t")
        await pilot.pause()
        assert not isinstance(app.focused, Tree)


async def test_new_run_form_starts_from_the_run_and_says_custom_when_it_departs():
    seed = PRESETS["seed"]
    longer = replace(seed, train=replace(seed.train, max_steps=2000))
    app, fake = make_app(start_new=lambda config: FakeEngine(), initial_config=longer)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("n")
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#f-train-max_steps", Input).value == "2000"  # not reset
        assert screen.query_one("#newrun-preset", Select).value is Select.NULL  # "custom"


async def test_new_run_form_says_custom_once_a_field_departs_from_the_preset():
    app, fake = make_app(start_new=lambda config: FakeEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("n")
        screen = app.screen
        picker = screen.query_one("#newrun-preset", Select)
        assert picker.value == "seed"
        screen.query_one("#f-train-lr", Input).value = "0.002"
        await pilot.pause()
        assert picker.value is Select.NULL  # shown as "custom"
        screen.query_one("#f-train-lr", Input).value = "1e-3"  # the preset's value again
        await pilot.pause()
        assert picker.value == "seed"
        screen.query_one("#f-train-lr", Input).value = "0.002"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: app.config.preset == "custom")
        assert app.config.preset == "custom" and app.config.train.lr == 0.002


async def test_new_run_form_shows_the_focused_fields_description():
    app, fake = make_app(start_new=lambda config: FakeEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("n")
        app.screen.query_one("#f-model-n_head", Input).focus()
        await pilot.pause()
        hint = str(app.screen.query_one("#newrun-hint").render())
        assert hint == f"{describe('model', 'n_head')} · F1: Multi-head attention"


async def test_a_new_run_says_it_is_starting_not_that_the_old_one_disconnected():
    old = FakeEngine()
    gate = threading.Event()

    def start_new(config):
        gate.wait(timeout=PATIENCE_S)  # a worker takes a moment to start: until the test says
        return FakeEngine()

    app = LlmLearnsApp(connect=lambda: old, start_new=start_new)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, old)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("ctrl+s")
        # The old run's stream closes while the new worker starts: that is no disconnection.
        await settle(pilot, lambda: old.asked(old.close))
        await pilot.pause(0.7)  # the old stream's last batch would have arrived by now
        assert app.query_one(RunHeader).word == "starting a new run"
        assert not app.query_one("#notice").display
        gate.set()
        await settle(pilot, lambda: app.query_one(RunHeader).word == "running")
        assert not app.query_one("#notice").display
