"""The top candidates the model weighed for one generated token, as probability bars.

They show the distribution the token was drawn from: after temperature, top-k and top-p as they
were set when it was generated, except at temperature 0 (greedy), where the engine keeps the raw
distribution and takes its top. The border title says which (see `caption`).
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from engine import GeneratedToken, SampleConfig
from tui.format import cell_label, fit, learn_link, probability, spaced
from tui.widgets.drawing import bar

SAMPLING = "Temperature, top-k and top-p"


def caption(drawn_with: SampleConfig | None) -> str:
    """Whether the bars show the distribution before or after the sampling settings."""
    if drawn_with is None:
        return "Candidates"
    if drawn_with.temperature == 0:
        return "Candidates · raw (T=0: top)"
    if drawn_with.temperature == 1 and drawn_with.top_k == 0 and drawn_with.top_p >= 1:
        return "Candidates · raw (all off)"
    return "Candidates · after settings"


class CandidateBars(Widget):
    """Shows one GeneratedToken's candidates; the one that was drawn is marked with ◀."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.token: GeneratedToken | None = None
        self.index = 0

    def show(
        self, token: GeneratedToken | None, index: int = 0, drawn_with: SampleConfig | None = None
    ) -> None:
        rows = self._rows()
        self.token, self.index = token, index
        if drawn_with is not None:
            self.border_title = caption(drawn_with)
        self.refresh(layout=self._rows() != rows)  # only if resized

    def _rows(self) -> int:
        return 1 + (len(self.token.candidates) if self.token else 0)

    def get_content_height(self, container, viewport, width) -> int:
        return self._rows()

    def render(self) -> Content:
        muted = "$foreground-muted"
        if self.token is None:
            return Content.styled("The top candidates of each step appear here.", muted)
        lines = [
            spaced(
                (f"step {self.index + 1}: ", muted),
                (cell_label(self.token.text), "$accent bold"),
                " ",
                learn_link("◀", SAMPLING, style="$accent"),
                (" drawn, ", muted),
                learn_link("p", "Softmax", style=f"{muted} underline"),
                (f" {probability(self.token.prob)}", muted),
            )
        ]
        width = max(4, self.size.width - 17)
        for candidate in self.token.candidates:
            chosen = candidate.token_id == self.token.token_id
            lines.append(
                spaced(
                    (fit(cell_label(candidate.text), 8, "right"), muted),
                    " ",
                    (bar(candidate.prob, width), "$accent" if chosen else "$primary"),
                    (probability(candidate.prob).rjust(6), "$foreground"),
                    " " if chosen else "",
                    learn_link("◀", SAMPLING, style="$accent") if chosen else "",
                )
            )
        return Content("\n").join(lines)
