"""The new-run screen: pick a preset, edit every data/model/train field, see errors as you type.

Validation is the engine's own: the form builds the config dataclasses, and a ConfigError's
one-line message is shown and its field names are marked.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from engine import DEFAULT_PRESET, PRESETS, ConfigError, RunConfig
from tui.widgets.key_hints import KeyHints

SECTIONS = ("data", "model", "train")
CHOICES = {"tokenizer": ("word", "char", "bpe"), "device": ("auto", "cpu", "cuda", "mps")}
SKIPPED = {("model", "vocab_size")}  # set by the tokenizer, not by the user
HINTS = {"corpus": "empty: the bundled corpus"}


class NewRunScreen(Screen[RunConfig | None]):
    """Dismisses with a valid RunConfig, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start run"),
    ]

    def __init__(self, config: RunConfig | None = None) -> None:
        super().__init__()
        self.base = config or PRESETS[DEFAULT_PRESET]
        self.problems = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="newrun"):
            yield Static(
                "[b]New run[/b] · every field is checked as you type; "
                "ctrl+s starts, escape cancels",
                id="newrun-title",
            )
            with Horizontal(id="newrun-preset-row"):
                yield Label("preset", classes="field-label")
                presets = [(name, name) for name in PRESETS]
                value = self.base.preset if self.base.preset in PRESETS else Select.BLANK
                yield Select(
                    presets, value=value, id="newrun-preset", compact=True, prompt="custom"
                )
            yield Static(id="newrun-errors")
            with VerticalScroll(id="newrun-form"):
                for section in SECTIONS:
                    yield Static(f"[b]{section}[/b]", classes="section-title")
                    with Grid(classes="field-grid"):
                        for field in fields(getattr(self.base, section)):
                            if (section, field.name) in SKIPPED:
                                continue
                            yield Label(field.name, classes="field-label")
                            yield self._editor(section, field.name)
            with Horizontal(id="newrun-buttons"):
                yield Button("Start run", id="newrun-start", variant="primary")
                yield Button("Cancel", id="newrun-cancel")
        yield KeyHints()

    def _editor(self, section: str, name: str):
        value = getattr(getattr(self.base, section), name)
        widget_id = f"f-{section}-{name}"
        if isinstance(value, bool):
            return Switch(value=value, id=widget_id, classes="field")
        if name in CHOICES:
            return Select(
                [(c, c) for c in CHOICES[name]],
                value=value,
                id=widget_id,
                classes="field",
                compact=True,
                allow_blank=False,
            )
        kind = (
            "integer"
            if isinstance(value, int)
            else "number"
            if isinstance(value, float)
            else "text"
        )
        return Input(
            str(value),
            type=kind,
            id=widget_id,
            classes="field",
            compact=True,
            placeholder=HINTS.get(name, ""),
        )

    def on_mount(self) -> None:
        self.validate_form()

    def read_form(self) -> RunConfig:
        """Build the RunConfig the form describes; raises ConfigError listing every problem."""
        overrides: dict[str, dict[str, Any]] = {}
        problems = []
        for section in SECTIONS:
            values = {}
            for field in fields(getattr(self.base, section)):
                if (section, field.name) in SKIPPED:
                    continue
                default = getattr(getattr(self.base, section), field.name)
                widget = self.query_one(f"#f-{section}-{field.name}")
                raw = widget.value
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
            overrides[section] = values
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
        errors.update(f"[$error]✖ {self.problems}[/]" if self.problems else "[$success]✔ valid[/]")
        self.query_one("#newrun-start", Button).disabled = config is None
        return config

    @on(Input.Changed)
    @on(Switch.Changed)
    @on(Select.Changed, ".field")
    def _field_changed(self) -> None:
        self.validate_form()

    @on(Select.Changed, "#newrun-preset")
    def _preset_picked(self, event: Select.Changed) -> None:
        if not isinstance(event.value, str):
            return
        self.base = PRESETS[event.value]
        for section in SECTIONS:
            for field in fields(getattr(self.base, section)):
                if (section, field.name) in SKIPPED:
                    continue
                value = getattr(getattr(self.base, section), field.name)
                widget = self.query_one(f"#f-{section}-{field.name}")
                widget.value = (
                    value if isinstance(value, bool) or field.name in CHOICES else str(value)
                )
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
