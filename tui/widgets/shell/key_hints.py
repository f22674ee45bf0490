"""KeyHints: the footer line of active key bindings, drawn as one piece of text.

Textual's Footer mounts a widget per key and rebuilds them all whenever the bindings change, which
is every view switch and focus move: about 100 ms of a small CPU per key press. This reads the same
bindings (so they stay the single source of help), draws them in one render that is kept until
they change, and maps a click back to its key.
"""

from __future__ import annotations

from textual import events
from textual.content import Content
from textual.widget import Widget

from tui.widgets.kept_lines import KeptLines


class KeyHints(KeptLines, Widget):
    DEFAULT_CSS = "KeyHints { height: 1; dock: bottom; background: $panel; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._spans: list[tuple[int, int, str]] = []  # (start x, end x, key) of each hint

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:
        self.refresh()

    def _hints(self) -> tuple[tuple[tuple[str, str, bool, str], ...], str | None]:
        """(key shown, description, enabled, key) of each binding to show; the palette's key."""
        hints = []
        actions: set[str] = set()
        palette = None
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.action == "command_palette":
                palette = binding.key
            if not binding.show or binding.action in actions or binding.action == "command_palette":
                continue
            actions.add(binding.action)
            key = self.app.get_key_display(binding)
            hints.append((key, binding.description, enabled, binding.key))
        return tuple(hints), palette

    def render_key(self):
        return self._hints()

    def render(self) -> Content:
        hints, palette = self._hints()
        parts: list[Content] = []
        spans: list[tuple[int, int, str]] = []
        x = 0
        for key, description, enabled, binding_key in hints:
            # assemble, not from_markup: parsing markup costs 50 times as much, on every switch.
            hint = Content.assemble(
                (key, "bold $accent"),
                " ",
                (description, "$foreground" if enabled else "$foreground-muted"),
                "  ",
            )
            spans.append((x, x + len(key) + 1 + len(description), binding_key))
            parts.append(hint)
            x += hint.cell_length
        line = Content(" ").join(parts) if parts else Content("")
        right = Content.assemble(("^p", "bold $accent"), " palette")
        # The palette hint only where it fits whole: the view's own keys come first.
        if palette is not None and line.cell_length + right.cell_length < self.size.width:
            gap = max(1, self.size.width - line.cell_length - right.cell_length - 1)
            spans.append((line.cell_length + gap, self.size.width, palette))
            line = line + Content(" " * gap) + right
        self._spans = spans
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key.split(",")[0])
                return
