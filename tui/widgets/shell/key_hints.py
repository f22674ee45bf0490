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
        # The palette's key stays at any width: the palette lists every action, so it is the
        # way to a hint left out. Its word is a run of its own: a run that opens with a space
        # loses it in rsvg's pictures of the screen ("^ppalette"; see format.spaced).
        right = Content.assemble(("^p", "bold $accent"), " ", ("palette", "$foreground"))
        room = self.size.width - 1  # the last column stays blank
        if palette is not None:
            room -= right.cell_length + 2
        pieces = [
            # assemble, not from_markup: parsing markup costs 50 times as much, on every switch.
            (
                Content.assemble(
                    (key, "bold $accent"),
                    " ",
                    (description, "$foreground" if enabled else "$foreground-muted"),
                ),
                binding_key,
            )
            for key, description, enabled, binding_key in hints
        ]

        def fitting_gap() -> int | None:
            words = sum(piece.cell_length for piece, _ in pieces)
            gaps = max(0, len(pieces) - 1)
            return next((gap for gap in (3, 2) if words + gap * gaps <= room), None)

        while (gap := fitting_gap()) is None and pieces:
            # Leave one out, from the right but before the last two (on the main screen, the
            # app's Help and Quit).
            del pieces[-3 if len(pieces) > 2 else -1]
        gap = gap or 2
        spans: list[tuple[int, int, str]] = []
        x = 0
        for piece, binding_key in pieces:
            spans.append((x, x + piece.cell_length, binding_key))
            x += piece.cell_length + gap
        line = Content(" " * gap).join(piece for piece, _ in pieces)
        start = self.size.width - 1 - right.cell_length
        if palette is not None and start >= line.cell_length + 2:
            spans.append((start, start + right.cell_length, palette))
            line = line + Content(" " * (start - line.cell_length)) + right
        self._spans = spans
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key.split(",")[0])
                return
