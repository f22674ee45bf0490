"""The replay mark under the header: "replaying step N of M", the pace, a step slider and the keys.

Shown only while the run is replayed (tui/state/replay.py). "replaying" opens the Learn entry on
replay; a click on the slider asks for that step (ReplayBar.Seek). On a narrow terminal the mark
and "esc live" always show; the other keys, then the slider, give way.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from tui.format import learn_link, spaced

ENTRY = "Replay and kept weights"
MIN_SLIDER = 8
# (shown, what it does, the key a click presses), most needed first: the way back to live shows
# whatever the width.
KEYS = (("esc", "live", "escape"), ("space", "pause", "space"), ("←/→", "eval", "right"),
        ("f", "speed", "f"))  # fmt: skip
# Where a view keeps ←/→ for itself (Generate, Inside), < and > step by eval instead.
OTHER_EVAL_KEYS = ("</>", "eval", "greater_than_sign")


class ReplayBar(Widget):
    """Where the replay stands; `show()` it after every move of the clock."""

    @dataclass
    class Seek(Message):
        """The slider was clicked: replay from `step`."""

        step: int

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.step = 0
        self.end = 0
        self.playing = False
        self.speed = ""
        self.arrows = True  # ←/→ reach the replay in the view shown
        self._slider: tuple[int, int] | None = None  # (first x, width) of the slider as drawn
        self._keys: list[tuple[int, int, str]] = []  # (first x, end x, key) of each key hint

    def show(
        self, step: int | None, end: int, playing: bool, speed: str, arrows: bool = True
    ) -> None:
        """Where the replay stands (hidden while `step` is None); `arrows`: whether ←/→ reach
        the replay in the view shown, else the bar offers < and >."""
        self.display = step is not None
        if step is not None:
            self.step, self.end, self.playing, self.speed = step, end, playing, speed
            self.arrows = arrows
            self.refresh()

    @property
    def mark(self) -> str:
        return f"replaying step {self.step:,} of {self.end:,}"

    def render(self) -> Content:
        width = self.size.width
        mark = spaced(
            ("▶ " if self.playing else "⏸ ", "bold $accent"),
            learn_link("replaying", ENTRY, "bold $accent underline"),
            (self.mark.removeprefix("replaying"), "bold"),
            (f" · {self.speed} ", "$foreground"),
        )
        hints: list[tuple[Content, str]] = []
        used = mark.cell_length
        keys = KEYS if self.arrows else [k if k[1] != "eval" else OTHER_EVAL_KEYS for k in KEYS]
        for shown, word, key in keys:
            word = "play" if word == "pause" and not self.playing else word
            hint = spaced((shown, "bold $accent"), (f" {word}", "$foreground"))
            if used + hint.cell_length + 3 <= width:
                hints.append((hint, key))
                used += hint.cell_length + 3
        room = width - used - 1
        self._slider = (mark.cell_length, room) if room >= MIN_SLIDER else None
        if self._slider is not None:
            done = round(room * self.step / self.end) if self.end else room
            gap = Content.assemble(
                ("━" * done, "$accent"), ("─" * (room - done), "$panel-lighten-3")
            )
        else:
            gap = Content(" " * max(0, room))
        parts = [mark, gap]
        x = mark.cell_length + gap.cell_length
        self._keys = []
        for hint, key in hints:
            # A separator's spaces in runs of their own: rsvg drops a run's leading space.
            parts.append(
                Content("   ") if len(parts) == 2 else spaced((" · ", "$foreground-muted"))
            )
            x += 3
            self._keys.append((x, x + hint.cell_length, key))
            parts.append(hint)
            x += hint.cell_length
        return Content.assemble(*parts)

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._keys:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
        if self._slider is not None:
            start, room = self._slider
            if start <= event.x < start + room:
                share = (event.x - start + 1) / room
                self.post_message(self.Seek(round(self.end * share)))
