"""The logit lens as a grid: a row per layer (the residual stream after the embeddings, then after
each block), a column per position of the probe text, each cell the token that layer would
predict next and its probability.

The text's tokens head the columns and the token that really comes next closes them, so a right
guess (bold, ✓) can be told at a glance; brighter cells are surer (√ scale, as the heatmaps).
Labels are measured in cells (tui.format.cell_label), so a wide token keeps the columns in line.
The columns that do not fit are out of sight: `first` is the first position shown.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

from engine import LogitLens
from tui.format import cell_label, fit, learn_action, probability
from tui.widgets.drawing import ColorScale, theme_color
from tui.widgets.kept_lines import KeptLines

MAX_TOKEN = 8  # cells of a token's label at most
PROB = 5  # tui.format.probability's widest: "0.36%"
ENTRY = "Logit lens"


# The rows' labels, and shorter ones for when the long ones would hide a position.
LONG = {"reads": "reads", "next": "next in text", "embeddings": "embeddings", "after": "after "}
SHORT = {"reads": "reads", "next": "next", "embeddings": "emb", "after": ""}


def row_label(layer: str, words: dict[str, str] = LONG) -> str:
    """'block 0' as 'after block 0': each row is the residual stream after that part."""
    return words["embeddings"] if layer == "embeddings" else f"{words['after']}{layer}"


class LensGrid(KeptLines, Widget):
    """Draws one LogitLens from position `first` on, as many positions as fit."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lens: LogitLens | None = None
        self.first = 0

    def show(self, lens: LogitLens | None) -> None:
        if lens != self.lens:
            self.lens = lens
            self.first = min(self.first, max(0, len(lens.tokens) - 1)) if lens else 0
            self.refresh(layout=True)

    def render_key(self):
        return (self.lens, self.first)

    @property
    def token_width(self) -> int:
        lens = self.lens
        if lens is None:
            return 1
        texts = [*lens.tokens, *(c.text for row in lens.top for c in row)]
        return max(1, min(MAX_TOKEN, max(cell_len(cell_label(t)) for t in texts)))

    @property
    def cell_width(self) -> int:
        return self.token_width + 1 + 1 + PROB + 1  # room for a ✓, a space, a gap after the cell

    def labels(self, width: int | None = None) -> dict[str, str]:
        """The row labels: the long ones unless they would hide a position."""
        if self.lens is None:
            return LONG
        T, layers = len(self.lens.tokens), self.lens.layers
        needed = max(len(row_label(layer)) for layer in layers) + 1 + T * self.cell_width
        return LONG if needed <= (width or self.size.width) else SHORT

    def label_width(self, width: int | None = None) -> int:
        words = self.labels(width)
        layers = self.lens.layers if self.lens else ()
        texts = [words["reads"], words["next"], *(row_label(x, words) for x in layers)]
        return max(len(text) for text in texts) + 1

    def columns(self, width: int | None = None) -> range:
        """The positions shown at this width."""
        if self.lens is None:
            return range(0)
        room = (width or self.size.width) - self.label_width(width)
        count = max(1, room // self.cell_width)
        T = len(self.lens.tokens)
        first = max(0, min(self.first, T - count))
        return range(first, min(T, first + count))

    def scroll_columns(self, delta: int) -> None:
        """Shift the positions shown by `delta` pages."""
        if self.lens is None:
            return
        shown = self.columns()
        page = max(1, len(shown))
        last_first = max(0, len(self.lens.tokens) - page)
        self.first = max(0, min(last_first, shown.start + delta * page))
        self.refresh()

    def get_content_height(self, container, viewport, width) -> int:
        return len(self.lens.top) + 3 if self.lens else 1

    def render(self) -> Text:
        lens = self.lens
        if lens is None:
            return Text("No logit lens yet: it is stored at every eval.", style="italic")
        variables = self.app.theme_variables
        colors = ColorScale.from_theme(variables)
        muted = Style(color=theme_color(variables, "foreground-muted"))
        accent = Style(color=theme_color(variables, "accent"), bold=True)
        shown, w = self.columns(), self.token_width
        words, label_width = self.labels(), self.label_width()
        out = Text(no_wrap=True, overflow="crop")

        def label(text: str, style: Style) -> None:
            out.append(fit(text, label_width - 1, "right"), style)
            out.append(" ", style)

        label(words["reads"], muted)
        for p in shown:
            out.append(fit(cell_label(lens.tokens[p]), self.cell_width), accent)
        out.append("\n")
        nexts = [lens.tokens[p + 1] if p + 1 < len(lens.tokens) else None for p in shown]
        for name, row in zip(lens.layers, lens.top, strict=True):
            label(row_label(name, words), muted)
            for p, after in zip(shown, nexts, strict=True):
                guess = row[p]
                bg = Color.parse(colors(guess.prob))
                right = after is not None and guess.text == after
                style = Style(bgcolor=bg.hex, color=bg.get_contrast_text(1.0).hex, bold=right)
                text = fit(fit(cell_label(guess.text), w).rstrip() + ("✓" if right else ""), w + 1)
                out.append(f"{text} {probability(guess.prob):>{PROB}}", style)
                out.append(" ", muted)
            out.append("\n")
        label(words["next"], muted)
        for after in nexts:
            text = cell_label(after) if after is not None else "?"
            out.append(fit(text, self.cell_width), muted)
        out.append("\n")
        out.append(" " * label_width, muted)
        link = Style(underline=True, meta={"@click": learn_action(ENTRY)})
        out.append("brighter: surer · ✓ the guess is the next token", muted + link)
        return out
