"""Nothing raw reaches the terminal: every text field and label the app composes shows control
characters as visible stand-ins, whatever fills it (a view, a flag, a paste, a run's name), and
what Textual writes to draw the screen holds no ESC, BEL, CSI or OSC but its own colours and
cursor moves. A field's value keeps the text as it came: the engine gets that."""

from __future__ import annotations

import re
from dataclasses import replace

from textual import events
from textual.app import App
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Static

from engine import PRESETS, EngineFailed, SampleGenerated
from tests.test_compare import write_run
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.screens.entry import EntryScreen
from tui.screens.help import HelpScreen
from tui.screens.new_run import NewRunScreen
from tui.screens.quit import QuitScreen
from tui.screens.runs import RunsScreen
from tui.views.train import TrainView
from tui.widgets.safe_text import SafeInput, SafeLabel, SafeStatic
from tui.widgets.train.chart_legend import ChartLegend
from tui.widgets.train.loss_chart import LossChart

EVIL = (
    "\x1b[2J\x1b]0;PWNED\x07"  # clear the screen, set the title (BEL ends it)
    "\x1b]2;PWNED\x1b\\"  # the title again (ST ends it)
    "\x1bP+q544e\x1b\\"  # a DCS query the terminal would answer on stdin
    "\x9b2J\x9d0;PWNED\x9c"  # the same in 8-bit form: CSI, OSC, ST
    "\x7f\u202eoh"  # DEL, a right-to-left override
)
HOSTILE_LINES = (
    "\x1b[31mred\r\x08\x0b\x0c\x1b[0m\ttab\nline"  # CR, BS, VT, FF: on a line of its own
)
# What Textual itself writes for a screen: colours (SGR) and cursor moves. Anything else that is
# a control character came from the text.
TEXTUALS_OWN = re.compile(r"\x1b\[[0-9;:]*m|\x1b\[\d+;\d+H")
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Widgets composed by the app that are Textual's containers, not text.
CONTAINERS = ("textual.containers", "textual.widgets._content_switcher")


def terminal_output(app: App) -> str:
    """What Textual would write to draw the whole screen now (the headless driver writes none)."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return update.render_segments(app.console)


def raw_in(output: str) -> list[str]:
    """Each control character in `output` that Textual's own sequences do not account for."""
    return RAW.findall(TEXTUALS_OWN.sub("", output))


def composed_by_the_app(widget: Widget) -> bool:
    """Whether the app's code composed it, rather than a Textual widget inside itself (a
    Select's label, a toast), which shows only what the app gives it."""
    for node in widget.ancestors:
        if isinstance(node, (Screen, App)):
            return True
        module = type(node).__module__
        if not (module.startswith("tui.") or module in CONTAINERS):
            return False
    return True


def text_widgets(screen: Screen) -> list[Widget]:
    """Every Input and Static (Labels are Statics) the app composed on `screen`."""
    found = [*screen.query(Input), *screen.query(Static)]
    return [widget for widget in found if composed_by_the_app(widget)]


def fill(widgets: list[Widget], text: str) -> None:
    for widget in widgets:
        if isinstance(widget, Input):
            widget.value = text
        else:
            widget.update(text)


def drawn(widget: Widget) -> str:
    """The text a widget draws, whether or not it is on screen now."""
    if isinstance(widget, Input):
        return widget.render_line(0).text
    return str(widget.render())


async def check_screen(pilot, what: str) -> list[str]:
    """Fill every text widget of the current screen with hostile text; what leaked, if any."""
    app = pilot.app
    widgets = text_widgets(app.screen)
    assert widgets, f"{what}: no text widgets found"
    plain = [w for w in widgets if not isinstance(w, (SafeStatic, SafeLabel, SafeInput))]
    assert plain == [], f"{what}: a plain Textual text widget"
    fill(widgets, EVIL)
    await pilot.pause()
    leaks = [f"{what} {widget!r}" for widget in widgets if raw_in(drawn(widget))]
    fill(widgets, HOSTILE_LINES)
    await pilot.pause()
    leaks += [f"{what} {widget!r} (lines)" for widget in widgets if raw_in(drawn(widget))]
    if found := raw_in(terminal_output(app)):
        leaks.append(f"{what}: the screen holds {found[:5]}")
    return leaks


async def test_every_field_and_label_of_every_screen_shows_controls_made_visible(tmp_path):
    compared = write_run(tmp_path, f"run{EVIL}", make_events(steps=50, max_steps=50))
    app, fake = make_app(tour=True, compare=[compared], start_new=lambda config: FakeEngine())
    leaks: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await settle(pilot, lambda: app.query_one(LossChart).compared)
        legend = app.query_one("#chart-legend", ChartLegend)
        assert "␛" in str(legend.render())  # the compared run's name
        app.notify(EVIL, title=EVIL)
        app.query_one(TrainView).notify(EVIL, title=EVIL)  # a widget's notify ends in the app's
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            leaks += await check_screen(pilot, f"view {key}")
        await pilot.press("1")
        app.query_one(TrainView).runs_root = tmp_path
        await pilot.press("c")
        await settle(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.runs)
        assert raw_in(terminal_output(app)) == []  # the runs list names the hostile run
        leaks += await check_screen(pilot, "runs list")
        await pilot.press("escape", "question_mark")
        await settle(pilot, lambda: isinstance(app.screen, HelpScreen))
        leaks += await check_screen(pilot, "help")
        await pilot.press("escape", "n")
        await settle(pilot, lambda: isinstance(app.screen, NewRunScreen))
        leaks += await check_screen(pilot, "new run")
        app.screen.query_one("#f-train-max_steps").focus()
        await pilot.press("f1")
        await settle(pilot, lambda: isinstance(app.screen, EntryScreen))
        leaks += await check_screen(pilot, "learn entry")
        await pilot.press("escape", "escape")
        await settle(pilot, lambda: not isinstance(app.screen, NewRunScreen))
        await pilot.press("q")
        await settle(pilot, lambda: isinstance(app.screen, QuitScreen))
        leaks += await check_screen(pilot, "quit")
        await pilot.press("escape")
        # The engine's own words, end to end: a failure's reason in the notice and a toast.
        fake.emit(EngineFailed(reason=EVIL, exit_code=1, last_checkpoint=None))
        notice = app.query_one("#notice")
        await settle(pilot, lambda: notice.display and "PWNED" in str(notice.render()))
        if found := raw_in(terminal_output(app)):
            leaks.append(f"the failure notice: {found[:5]}")
    assert leaks == []


async def test_the_detector_sees_what_a_plain_static_would_write():
    """The check above would pass on any screen if it saw nothing: show that it sees."""

    class Plain(App):
        def compose(self):
            yield Static(EVIL, markup=False)

    async with Plain().run_test(size=(60, 5)) as pilot:
        await pilot.pause()
        assert "\x1b" in raw_in(terminal_output(pilot.app))


async def test_a_prompt_and_probe_from_flags_are_drawn_visible_and_sent_as_given():
    config = PRESETS["seed"]
    config = replace(config, sample=replace(config.sample, prompt=EVIL, probe=EVIL))
    # The run's samples are drawn from the same prompt, as a worker given these flags draws them.
    events = [
        replace(e, prompt=EVIL) if isinstance(e, SampleGenerated) else e for e in make_events()
    ]
    app, fake = make_app(FakeEngine(events), initial_config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            assert raw_in(terminal_output(app)) == [], f"view {key}"
        await pilot.press("3", "enter", "enter")
        await settle(pilot, lambda: fake.asked(fake.generate))
        assert fake.asked(fake.generate)[0][0] == EVIL.strip()


async def test_a_pasted_text_is_drawn_visible_and_sent_as_pasted():
    app, fake = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, fake)
        await pilot.press("3", "slash")
        prompt = app.query_one("#gen-prompt", Input)
        prompt.value = ""
        prompt.post_message(events.Paste(EVIL + "\nsecond line"))
        await settle(pilot, lambda: prompt.value)
        assert prompt.value == EVIL  # the first line, as Textual's Input takes a paste
        assert raw_in(terminal_output(app)) == []
        assert "␛]0;PWNED␇" in prompt.render_line(0).text
        await pilot.press("enter")
        await settle(pilot, lambda: fake.asked(fake.generate))
        assert fake.asked(fake.generate)[0][0] == EVIL


async def test_the_cursor_steps_over_a_stand_in_as_one_character():
    class Field(App):
        def compose(self):
            yield SafeInput("a\x1bb\x85c")

    async with Field().run_test(size=(40, 3)) as pilot:
        field = pilot.app.query_one(SafeInput)
        field.focus()
        field.cursor_blink = False
        assert field.render_line(0).text.startswith("a␛b<U+0085>c")
        offsets = []
        for position in range(len(field.value)):
            field.cursor_position = position
            offsets.append(field._cursor_offset)
        assert offsets == [0, 1, 2, 3, 11]  # <U+0085> takes 8 cells, ␛ one
        # A click anywhere on a stand-in puts the cursor on its character.
        assert [field._cell_offset_to_index(x) for x in (1, 3, 7, 10, 11)] == [1, 3, 3, 3, 4]
