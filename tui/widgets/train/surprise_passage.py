"""Where the model is wrong: a passage of validation text coloured by each token's loss.

The engine measures the same passage (the start of the validation split) at every eval
(client.token_losses(), which the Train view asks for), so a learner watches the red tokens fade
as the model learns. ←/→ or a click pick a token: the line under the passage gives its loss and
what the model expected there.
"""

from __future__ import annotations

import math

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.color import Color
from textual.widget import Widget

from engine import EvalCompleted, Event, PassageLosses, TrainingStarted
from tui.format import cell_label, fit, learn_action, probability
from tui.widgets.drawing import theme_color

ENTRY = "Per-token loss"
LEGEND_STEPS = 10


def piece(token: str) -> tuple[str, bool]:
    """How a token reads inside the passage, and whether a line break follows it.

    Spaces stay spaces (the token's colour shows them); a line break shows as ⏎ and breaks the
    line; everything else goes through cell_label (engine.token_label), never raw."""
    out = []
    for part in token.split("\n"):
        out.append(" ".join(cell_label(word) if word else "" for word in part.split(" ")))
    return "⏎".join(out), "\n" in token


class SurprisePassage(Widget):
    """The passage, the selected token's loss and the model's guesses there, and a colour key."""

    can_focus = True

    BINDINGS = [
        Binding("left", "select(-1)", "Token ←", show=False),
        Binding("right", "select(1)", "Token →", show=False),
        Binding("home", "select(-100000)", "First token", show=False),
        Binding("end", "select(100000)", "Last token", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.passage: PassageLosses | None = None
        self.selected = 0  # index into passage.losses: the token at passage.tokens[selected + 1]
        self.vocab_size = 0
        self.words = False  # a word tokenizer's tokens carry no spaces: put one between them
        self.stale = True  # an eval happened since the passage was measured
        self.error: str | None = None
        self._hits: list[tuple[int, int, int, int]] = []  # (row, first x, end x, loss index)

    def on_mount(self) -> None:
        self.border_title = "Where the model is wrong (validation text)"

    def ingest(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, TrainingStarted):
                self.vocab_size = event.vocab_size
                self.words = event.tokenizer == "word"
            elif isinstance(event, EvalCompleted):
                self.stale = True

    def show(self, passage: PassageLosses) -> None:
        self.passage, self.error = passage, None
        self.selected = min(self.selected, max(0, len(self.passage.losses) - 1))
        self.border_title = (
            f"Where the model is wrong (validation text) · step {self.passage.step:,}"
        )
        self.refresh()

    def show_error(self, reason: str) -> None:
        self.error = reason
        self.refresh()

    def action_select(self, delta: int) -> None:
        if self.passage and self.passage.losses:
            last = len(self.passage.losses) - 1
            self.selected = max(0, min(last, self.selected + delta))
            self.refresh()

    def on_click(self, event) -> None:
        at = event.get_content_offset(self)  # event.x counts the border and padding too
        if at is None or (event.style.meta or {}).get("@click"):
            return  # outside the text, or a Learn link: the app opens it
        for row, start, end, index in self._hits:
            if row == at.y and start <= at.x < end:
                self.selected = index
                self.refresh()
                return

    # --- drawing ---------------------------------------------------------------------------

    def reference(self) -> float:
        """The loss drawn in full colour: random guessing's ln(V), else the passage's worst."""
        if self.vocab_size > 1:
            return math.log(self.vocab_size)
        return max(self.passage.losses, default=1.0) if self.passage else 1.0

    def loss_color(self, loss: float, low: Color, high: Color) -> str:
        fraction = max(0.0, min(1.0, loss / self.reference())) if math.isfinite(loss) else 1.0
        return low.blend(high, round(fraction * 16) / 16).hex

    def layout_passage(self, width: int) -> list[list[tuple[str, int]]]:
        """Rows of (text, token index) pieces; index -1 is a gap between word tokens."""
        rows: list[list[tuple[str, int]]] = [[]]
        x = 0
        for index, token in enumerate(self.passage.tokens if self.passage else ()):
            text, breaks = piece(token)
            text = fit(text, width) if cell_len(text) > width else text
            gap = 1 if self.words and rows[-1] else 0
            if x + gap + cell_len(text) > width and rows[-1]:
                rows.append([])
                x, gap = 0, 0
            if gap:
                rows[-1].append((" ", -1))
            rows[-1].append((text, index))
            x += gap + cell_len(text)
            if breaks:
                rows.append([])
                x = 0
        return rows

    def render(self) -> Text:
        variables = self.app.theme_variables
        muted = Style(color=theme_color(variables, "foreground-muted"))
        if self.passage is None or not self.passage.losses:
            self._hits = []
            if self.error:
                return Text(f"Could not measure the passage: {self.error}", style="italic")
            return Text("Measuring how surprised the model is by each token…", style=muted)
        passage, width = self.passage, max(10, self.size.width)
        low = Color.parse(theme_color(variables, "surface"))
        high = Color.parse(theme_color(variables, "error"))
        foreground = theme_color(variables, "foreground")
        rows = self.layout_passage(width)
        room = max(1, self.size.height - 2)  # the selection line and the key stay below
        where = next((r for r, row in enumerate(rows) for _, i in row if i == self.selected + 1), 0)
        first = min(max(0, where - room // 2), max(0, len(rows) - room))
        out = Text(no_wrap=True, overflow="ellipsis")
        self._hits = []
        for r, row in enumerate(rows[first : first + room]):
            x = 0
            for text, index in row:
                if index <= 0:  # a gap, or the first token: context only, nothing predicts it
                    out.append(text, muted)
                else:
                    loss = passage.losses[index - 1]
                    style = Style(color=foreground, bgcolor=self.loss_color(loss, low, high))
                    if index - 1 == self.selected:
                        style += Style(reverse=True, bold=True)
                    out.append(text, style)
                    self._hits.append((r, x, x + cell_len(text), index - 1))
                x += cell_len(text)
            out.append("\n")
        for _ in range(room - min(room, len(rows) - first)):
            out.append("\n")
        self._selection_line(out, muted)
        self._key_line(out, muted, low, high)
        return out

    def _selection_line(self, out: Text, muted: Style) -> None:
        passage, i = self.passage, self.selected
        accent = Style(color=theme_color(self.app.theme_variables, "accent"), bold=True)
        loss = passage.losses[i]
        out.append("▸ ", accent)
        out.append(cell_label(passage.tokens[i + 1]) + " ", accent)
        out.append(f"loss {loss:.2f} (p {probability(math.exp(-loss))}) · expected: ", muted)
        actual = passage.token_ids[i + 1]
        # Spaces end a text run rather than start one: some SVG renderers (rsvg) drop a leading
        # space, and screenshots would read "you45%".
        for candidate in passage.expected[i]:
            mark = "✓" if candidate.token_id == actual else ""
            out.append(cell_label(candidate.text) + mark + " ", accent if mark else Style())
            out.append(f"{probability(candidate.prob)}  ", muted)
        out.rstrip()
        out.append("\n")

    def _key_line(self, out: Text, muted: Style, low: Color, high: Color) -> None:
        link = muted + Style(underline=True, meta={"@click": learn_action(ENTRY)})
        out.append("colour: per-token loss", link)
        out.append(" ")
        out.append("0 ", muted)
        reference = self.reference()
        for step in range(LEGEND_STEPS + 1):
            loss = reference * step / LEGEND_STEPS
            out.append(" ", Style(bgcolor=self.loss_color(loss, low, high)))
        label = "ln V, guessing" if self.vocab_size > 1 else "the worst here"
        out.append(" ")
        out.append(f"{reference:.2f} ({label}) · mean {self.passage.mean:.2f}", muted)
