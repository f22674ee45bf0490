"""An ablation's result: the model with and without the part, on val and on the text, and the
candidates at the selected position side by side (engine.AblationResult)."""

from __future__ import annotations

from textual.content import Content

from engine import AblationResult, Candidate
from tui.format import cell_label, fit, learn_link, probability, spaced
from tui.widgets.safe_text import SafeStatic

LABEL, NUMBER = 12, 8  # the columns of the comparison: a label, then with / without / change


def _row(label: str | Content, with_: str, without: str, change: str, worse: bool) -> Content:
    label = Content(fit(label, LABEL)) if isinstance(label, str) else label
    color = "$error" if worse else "$success"
    return spaced(
        label,
        (fit(with_, NUMBER, "right"), "$foreground"),
        (fit(without, NUMBER, "right"), "bold"),
        (fit(change, NUMBER, "right"), color),
    )


def _loss(value: float) -> str:
    return f"{value:.3f}" if value == value else "–"  # nan: a text too short to score


def _candidates(left: tuple[Candidate, ...], right: tuple[Candidate, ...], width: int):
    """The top candidates with and without, in two columns."""
    column = max(8, (width - 2) // 2)
    rows = [Content.assemble(("with", "$foreground-muted"), " " * (column - 2),
                             ("without", "$foreground-muted"))]  # fmt: skip
    for i in range(max(len(left), len(right))):
        cells = []
        for side in (left, right):
            if i < len(side):
                text = fit(cell_label(side[i].text), column - 7)
                cells.append((f"{text} {probability(side[i].prob):>5}", "$foreground"))
            else:
                cells.append((" " * (column - 2), "$foreground"))
        rows.append(spaced(cells[0], ("  ", "$foreground"), cells[1]))
    return rows


class AblationView(SafeStatic):
    """Shows the latest AblationResult (or what is being asked, or why it failed)."""

    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(text, **kwargs)
        self.result: AblationResult | None = None

    def show(self, result: AblationResult) -> None:
        self.result = result
        self._render_result()

    def on_resize(self) -> None:
        if self.result is not None:
            self._render_result()

    def show_text(self, text: str) -> None:
        self.result = None
        self.update(Content(text))

    def _render_result(self) -> None:
        r = self.result
        assert r is not None
        width = self.content_region.width or 40
        lines = [
            spaced(
                ("without ", "bold"),
                (r.ablation.label(), "bold $accent"),
                (f" · step {r.step:,}", "$foreground"),
            ),  # fmt: skip
            _row("", "with", "without", "change", False).stylize("$foreground-muted"),
            _row(
                learn_link(fit("val loss", LABEL), "Train and validation loss", style=""),
                _loss(r.val_loss),
                _loss(r.ablated_val_loss),
                f"{r.loss_increase:+.3f}",
                r.loss_increase > 0,
            ),  # fmt: skip
        ]
        if r.val_accuracy is not None and r.ablated_val_accuracy is not None:
            drop = r.ablated_val_accuracy - r.val_accuracy
            lines.append(
                _row(
                    learn_link(fit("val accuracy", LABEL), "Accuracy", style=""),
                    f"{r.val_accuracy:.0%}",
                    f"{r.ablated_val_accuracy:.0%}",
                    f"{100 * drop:+.0f} pts",
                    drop < 0,
                )  # fmt: skip
            )
        probe_change = r.ablated_probe_loss - r.probe_loss
        lines.append(
            _row(
                "text loss",
                _loss(r.probe_loss),
                _loss(r.ablated_probe_loss),
                f"{probe_change:+.3f}" if probe_change == probe_change else "",
                probe_change > 0,
            )  # fmt: skip
        )
        token = cell_label(r.tokens[r.position]) if r.tokens else ""
        lines.append(Content(""))
        lines.append(
            spaced("after ", (f"“{token}”", "bold"), (f" (position {r.position})", "$foreground"))
        )
        if r.actual is not None and r.ablated_actual is not None:
            lines.append(
                spaced(
                    "next in the text ",
                    (f"“{cell_label(r.actual.text)}”", "bold"),
                    (f" {probability(r.actual.prob)} →", "$foreground"),
                    (f" {probability(r.ablated_actual.prob)}", "bold"),
                )  # fmt: skip
            )
        lines += _candidates(r.candidates, r.ablated_candidates, min(width, 44))
        self.update(Content("\n").join(lines))
