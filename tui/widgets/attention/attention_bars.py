"""Where one query token looks: its attention over the keys as horizontal bars, largest first."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from tui.format import cell_label, fit, probability
from tui.messages import LearnAsked
from tui.widgets.drawing import bar, theme_color

MAX_BARS = 8
ENTRY = "Attention and self-attention"  # what a click on the title ("where … looks:") opens


class AttentionBars(Widget):
    """Bars for the cursor's query row (only keys up to the query: the rest are masked)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.query_token = ""
        self.items: list[tuple[int, str, float]] = []

    def show(self, tokens: list[str], query: int, row: list[float]) -> None:
        self.query_token = tokens[query] if tokens else ""
        ranked = sorted(((w, k) for k, w in enumerate(row[: query + 1])), reverse=True)
        self.items = [(k, tokens[k], w) for w, k in ranked[:MAX_BARS]]
        self.refresh()

    def get_content_height(self, container, viewport, width) -> int:
        # Room for every bar whatever the query: the panel stays put as the cursor moves, and a
        # cursor key never costs a layout pass (tens of milliseconds).
        return MAX_BARS + 1

    def render(self) -> Text:
        variables = self.app.theme_variables
        muted = Style(color=theme_color(variables, "foreground-muted"))
        out = Text(no_wrap=True, overflow="ellipsis")
        if not self.items:
            return Text("Pick a query token (↑/↓).", style=muted)
        # A space never opens a styled run here: an SVG screenshot made a PNG by rsvg-convert
        # would drop it ("where lovelooks:"); see tui.format.spaced.
        out.append("where ", muted)
        accent = Style(color=theme_color(variables, "accent"), bold=True)
        out.append(cell_label(self.query_token), accent)
        out.append(" ")
        out.append("looks:\n", muted)
        width = max(4, self.size.width - 18)  # label 7, spaces, share 6, "#12"
        plain = Style(color=theme_color(variables, "foreground"))
        for k, token, weight in self.items:
            label = fit(cell_label(token), 7, "right")
            body = label.lstrip(" ")
            out.append(label[: len(label) - len(body)])
            out.append(body + " ", muted)
            out.append(bar(weight, width), Style(color=theme_color(variables, "primary")))
            share = probability(weight)
            out.append(" " * (6 - len(share)))
            out.append(share, plain)
            out.append(" ")
            out.append(f"#{k}\n" if k < 100 else "\n", muted)
        out.rstrip()
        return out

    def on_click(self, event) -> None:
        at = event.get_content_offset(self)
        if self.items and at is not None and at.y == 0:  # the title: what these weights are
            self.post_message(LearnAsked(ENTRY))
