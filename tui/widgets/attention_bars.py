"""Where one query token looks: its attention over the keys as horizontal bars, largest first."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from tui.format import cell_label, fit
from tui.widgets.heatmap import theme_color

MAX_BARS = 8
ENTRY = "Attention and self-attention"  # what the title opens in Learn when clicked
EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    """A bar `width` cells long at full scale, with eighth-cell resolution."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


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
        link = Style(underline=True, meta={"@click": f"app.learn({ENTRY!r})"})
        out.append("where ", muted + link)
        accent = Style(color=theme_color(variables, "accent"), bold=True)
        # The space after the token is the token's own: a run that starts with a space loses it
        # in some SVG renderers (rsvg), and screenshots read "where mylooks:".
        out.append(cell_label(self.query_token), accent + link)
        out.append(" ", accent)
        out.append("looks:\n", muted + link)
        width = max(4, self.size.width - 17)
        primary = Style(color=theme_color(variables, "primary"))
        for k, token, weight in self.items:
            # Padding is kept out of the front of a text run (see the title).
            label = fit(cell_label(token), 7, "right")
            words = label.lstrip(" ")
            out.append(" " * (len(label) - len(words)), primary)
            out.append(words + " ", muted)
            percent = f"{weight:.0%}"
            out.append(bar(weight, width) + " " * (6 - len(percent)), primary)
            out.append(percent + " ")
            out.append(f"#{k}\n" if k < 100 else "\n", muted)
        out.rstrip()
        return out
