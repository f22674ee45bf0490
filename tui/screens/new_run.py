"""The new-run screen: pick a preset, edit every data/model/train field, see errors as you type.

Validation is the engine's own: the form builds the config dataclasses, and a ConfigError's
one-line message is shown and its field names are marked. The preset picker says "custom" as
soon as a field departs from the preset, and the focused field's description (the same text as
the CLI's --help) shows under the form. F1 (or ctrl+l, or a click on a field's name) shows the
field's glossary entry over the form, which keeps what was typed.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Input, Select, Static, Switch

from engine import DEFAULT_PRESET, PRESETS, TASKS, ConfigError, RunConfig, describe, visible
from tui.format import learn_action
from tui.messages import LearnAsked
from tui.terms import field_term
from tui.widgets.safe_text import SafeInput, SafeLabel, SafeStatic
from tui.widgets.shell.key_hints import KeyHints

SECTIONS = ("data", "model", "train")
CHOICES = {
    "tokenizer": ("word", "char", "bpe"),
    "device": ("auto", "cpu", "cuda", "mps"),
    "task": ("", *TASKS),  # "": the corpus
}
SKIPPED = {("model", "vocab_size")}  # set by the tokenizer, not by the user
PLACEHOLDERS = {"corpus": "empty: the bundled corpus"}
HINT = "tab moves between fields; the focused one's description shows here; F1 explains it"


def field_hint(section: str, name: str) -> str:
    """The one description of a config field, as the CLI's --help shows it."""
    try:
        return describe(section, name)
    except KeyError:
        return ""


class NewRunScreen(Screen[RunConfig | None]):
    """Dismisses with a valid RunConfig, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start run"),
        Binding("f1,ctrl+l", "learn_field", "Learn"),
    ]

    def __init__(self, config: RunConfig | None = None) -> None:
        super().__init__()
        self.base = config or PRESETS[DEFAULT_PRESET]
        self.preset_name = self.base.preset if self.base.preset in PRESETS else None
        self.problems = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="newrun"):
            yield SafeStatic(
                "[b]New run[/b] · every field is checked as you type; "
                "ctrl+s starts, escape cancels",
                id="newrun-title",
            )
            with Horizontal(id="newrun-preset-row"):
                yield SafeLabel("preset", classes="field-label")
                presets = [(name, name) for name in PRESETS]
                value = self.base.preset if self.base.preset in PRESETS else Select.NULL
                yield Select(
                    presets, value=value, id="newrun-preset", compact=True, prompt="custom"
                )
            yield SafeStatic(id="newrun-errors")
            with VerticalScroll(id="newrun-form"):
                for section in SECTIONS:
                    yield SafeStatic(f"[b]{section}[/b]", classes="section-title")
                    with Grid(classes="field-grid"):
                        for field in fields(getattr(self.base, section)):
                            if (section, field.name) in SKIPPED:
                                continue
                            yield self._label(section, field.name)
                            yield self._editor(section, field.name)
            yield SafeStatic(HINT, id="newrun-hint")
            with Horizontal(id="newrun-buttons"):
                yield Button("Start run", id="newrun-start", variant="primary")
                yield Button("Cancel", id="newrun-cancel")
        yield KeyHints()

    def _label(self, section: str, name: str) -> SafeLabel:
        """The field's name; a click on it shows the field's glossary entry."""
        heading = field_term(section, name)
        text = Content(name)
        if heading:
            text = text.stylize(f"@click={learn_action(heading)}")
        label = SafeLabel(text, classes="field-label")
        label.tooltip = f"click: learn about {heading}" if heading else None
        return label

    def _editor(self, section: str, name: str):
        value = getattr(getattr(self.base, section), name)
        widget_id = f"f-{section}-{name}"
        if isinstance(value, bool):
            widget = Switch(value=value, id=widget_id, classes="field")
        elif name in CHOICES:
            widget = Select(
                [(c or "none: the corpus", c) for c in CHOICES[name]],
                value=value,
                id=widget_id,
                classes="field",
                compact=True,
                allow_blank=False,
            )
        else:
            kind = (
                "integer"
                if isinstance(value, int)
                else "number"
                if isinstance(value, float)
                else "text"
            )
            widget = SafeInput(
                str(value),
                type=kind,
                id=widget_id,
                classes="field",
                compact=True,
                placeholder=PLACEHOLDERS.get(name, ""),
            )
        widget.tooltip = field_hint(section, name) or None
        return widget

    def _fields(self):
        """(section, field) of each field the form edits, in order."""
        for section in SECTIONS:
            for field in fields(getattr(self.base, section)):
                if (section, field.name) not in SKIPPED:
                    yield section, field

    def on_mount(self) -> None:
        self._show_preset()
        self.validate_form()

    def _field_of(self, widget) -> tuple[str, str] | None:
        """(section, name) of the field a widget edits, if it is one of the form's fields."""
        parts = ((widget.id if widget else None) or "").split("-", 2)
        return (parts[1], parts[2]) if parts[0] == "f" and len(parts) == 3 else None

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        field = self._field_of(event.widget)
        hint = Content((field_hint(*field) if field else "") or HINT)
        if field and (heading := field_term(*field)):
            hint += Content.from_markup(" · [b]F1[/b]: ") + Content(heading).stylize(
                f"underline @click={learn_action(heading)}"
            )
        self.query_one("#newrun-hint", Static).update(hint)

    def action_learn_field(self) -> None:
        """Show the focused field's glossary entry (over the form, which keeps its values)."""
        field = self._field_of(self.focused)
        heading = field_term(*field) if field else None
        if heading is None:
            self.notify("Tab to a field first: F1 explains the focused one.", timeout=3)
            return
        self.post_message(LearnAsked(heading))

    def _matches(self, config: RunConfig) -> bool:
        """Whether every field of the form holds `config`'s value."""
        for section, field in self._fields():
            value = getattr(getattr(config, section), field.name)
            raw = self.query_one(f"#f-{section}-{field.name}").value
            if isinstance(value, bool) or field.name in CHOICES or isinstance(value, str):
                same = raw == value
            else:
                try:
                    same = type(value)(raw) == value
                except ValueError:
                    same = False
            if not same:
                return False
        return True

    def _show_preset(self) -> None:
        """The picked preset while the form holds it; "custom" once a field departs from it."""
        name = self.preset_name
        shown = name if name is not None and self._matches(PRESETS[name]) else Select.NULL
        picker = self.query_one("#newrun-preset", Select)
        if picker.value != shown:
            with self.prevent(Select.Changed):
                picker.value = shown

    def read_form(self) -> RunConfig:
        """Build the RunConfig the form describes; raises ConfigError listing every problem."""
        overrides: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
        problems = []
        for section, field in self._fields():
            default = getattr(getattr(self.base, section), field.name)
            raw = self.query_one(f"#f-{section}-{field.name}").value
            values = overrides[section]
            try:
                if isinstance(default, bool) or field.name in CHOICES:
                    values[field.name] = raw
                elif isinstance(default, int):
                    values[field.name] = int(raw)
                elif isinstance(default, float):
                    values[field.name] = float(raw)
                else:
                    values[field.name] = str(raw)
            except ValueError:
                problems.append(f"{field.name} {raw!r} is not a number")
        if problems:
            raise ConfigError("; ".join(problems))
        preset = self.query_one("#newrun-preset", Select).value
        base = replace(self.base, preset=preset if isinstance(preset, str) else "custom")
        return base.with_overrides(overrides)

    def validate_form(self) -> RunConfig | None:
        try:
            config = self.read_form()
            self.problems = ""
        except ConfigError as error:
            config, self.problems = None, str(error)
        for widget in self.query(".field"):
            name = (widget.id or "").split("-", 2)[-1]
            widget.set_class(bool(re.search(rf"\b{name}\b", self.problems)), "-invalid")
        errors = self.query_one("#newrun-errors", Static)
        # Content, not markup: the problems quote what was typed, a trailing backslash too.
        problems = Content.styled(f"✖ {visible(self.problems)}", "$error")
        errors.update(problems if self.problems else Content.styled("✔ valid", "$success"))
        self.query_one("#newrun-start", Button).disabled = config is None
        return config

    @on(Input.Changed)
    @on(Switch.Changed)
    @on(Select.Changed, ".field")
    def _field_changed(self) -> None:
        self._show_preset()
        self.validate_form()

    @on(Select.Changed, "#newrun-preset")
    def _preset_picked(self, event: Select.Changed) -> None:
        # The picker announces its first value on mount too, after the form was filled from
        # the current run's config: that stale announcement must not reset the form.
        if not isinstance(event.value, str) or event.value != event.select.value:
            return
        if event.value == self.preset_name and self._matches(PRESETS[event.value]):
            return
        self.base, self.preset_name = PRESETS[event.value], event.value
        for section, field in self._fields():
            value = getattr(getattr(self.base, section), field.name)
            widget = self.query_one(f"#f-{section}-{field.name}")
            widget.value = value if isinstance(value, bool) or field.name in CHOICES else str(value)
        self.validate_form()

    @on(Button.Pressed, "#newrun-start")
    def action_start(self) -> None:
        config = self.validate_form()
        if config is None:
            self.notify(self.problems, title="Fix these first", severity="error")
            return
        self.dismiss(config)

    @on(Button.Pressed, "#newrun-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
