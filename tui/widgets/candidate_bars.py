"""The top candidates the model weighed for one generated token, as probability bars."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine import GeneratedToken
from tui.format import cell_label, fit
from tui.widgets.attention_bars import bar
from tui.widgets.heatmap import theme_color


class CandidateBars(Widget):
    """Shows one GeneratedToken's candidates; the one that was drawn is marked with ◀."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.token: GeneratedToken | None = None
        self.index = 0

    def show(self, token: GeneratedToken | None, index: int = 0) -> None:
        rows = self._rows()
        self.token, self.index = token, index
        self.refresh(layout=self._rows() != rows)  # only if resized

    def _rows(self) -> int:
        return 2 + (len(self.token.candidates) if self.token else 0)

    def get_content_height(self, container, viewport, width) -> int:
        return self._rows()

    def render(self) -> Text:
        variables = self.app.theme_variables
        muted = Style(color=theme_color(variables, "foreground-muted"))
        if self.token is None:
            return Text("The top candidates of each step appear here.", style=muted)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"token {self.index + 1}: ", muted)
        accent = Style(color=theme_color(variables, "accent"), bold=True)
        out.append(cell_label(self.token.text), accent)
        out.append(f"  p={self.token.prob:.2f}\n", muted)
        width = max(4, self.size.width - 18)
        for candidate in self.token.candidates:
            chosen = candidate.token_id == self.token.token_id
            out.append(fit(cell_label(candidate.text), 8, "right") + " ", muted)
            out.append(
                bar(candidate.prob, width),
                Style(color=theme_color(variables, "accent" if chosen else "primary")),
            )
            out.append(f" {candidate.prob:4.0%}")
            out.append(" ◀\n" if chosen else "\n", Style(color=theme_color(variables, "accent")))
        out.rstrip()
        return out
