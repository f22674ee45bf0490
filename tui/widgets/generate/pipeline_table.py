"""One generated step's sampling pipeline as a table: a row per likely token, a column per stage.

The columns are the stages of engine.sampling_pipeline: raw (temperature 1), after temperature,
after top-k, after top-p (renormalised). Every stage keeps the raw order (temperature is monotone,
top-k and top-p keep a prefix), so a cut-off is a place in a column: the first token a stage drops
shows a dashed rule, the ones below it a dot. The table is redrawn from the step's logits for
the settings in the fields, so changing them shows at once what they would do, without generating.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from engine import GeneratedToken, SampleConfig, SamplingPipeline, sampling_pipeline
from tui.format import cell_label, fit, learn_link, probability, spaced
from tui.widgets.drawing import bar

SAMPLING = "Temperature, top-k and top-p"
PIPELINE = "Sampling pipeline"
MAX_ROWS = 10
NUMBER = 6  # "0.36%" (tui.format.probability) and a space
BAR_COLUMN = 10  # a stage column this wide draws a bar after its number
DRAWN = "◀"
CUT = "╌"


def percent(p: float) -> str:
    """A stage's probability (tui.format.probability), or a dot where the stage dropped it."""
    return "·" if p <= 0 else probability(p)


def cell(text: str, width: int, style: str) -> tuple[str, str]:
    """A stage's number, right-aligned; a column wide enough for a bar keeps its number apart."""
    if width >= BAR_COLUMN:
        return (text.rjust(NUMBER).ljust(width), style)
    return (text.rjust(width), style)


def count(n: int) -> str:
    return f"{n / 1000:.0f}k" if n >= 10_000 else str(n)


def stage_headers(settings: SampleConfig) -> list[str]:
    """Each column's heading: the setting that makes the stage, or "off"."""
    t, k, p = settings.temperature, settings.top_k, settings.top_p
    return [
        "raw",
        f"T={t:g}",
        f"k={k}" if k > 0 else "k off",
        f"p={p:g}".replace("=0.", "=.") if p < 1 else "p off",
    ]


class PipelineTable(Widget):
    """The picked step's distribution at each stage, the cut-offs, and the token drawn (◀)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.token: GeneratedToken | None = None
        self.index = 0
        self.settings = SampleConfig()
        self.drawn_with: SampleConfig | None = None  # the settings the token was drawn with
        self.pipeline: SamplingPipeline | None = None
        self.problem: str | None = None  # a field that does not parse: the table keeps its last

    def show(
        self,
        token: GeneratedToken | None,
        index: int = 0,
        drawn_with: SampleConfig | None = None,
    ) -> None:
        self.token, self.index = token, index
        if drawn_with is not None:
            self.drawn_with = drawn_with
        self._redraw()

    def set_settings(self, settings: SampleConfig) -> None:
        """Redraw for these temperature, top-k and top-p, from the logits already here."""
        self.settings, self.problem = settings, None
        self._redraw()

    def set_problem(self, problem: str) -> None:
        """Say why the fields cannot be drawn; the table keeps the last settings that could."""
        self.problem = problem
        self.refresh()

    def _redraw(self) -> None:
        logits = self.token.logits if self.token else None
        s = self.settings
        self.pipeline = (
            sampling_pipeline(logits, s.temperature, s.top_k, s.top_p) if logits else None
        )
        self.border_subtitle = self.note
        self.refresh()

    @property
    def changed(self) -> bool:
        """Whether the fields differ from the settings the shown token was drawn with."""
        if self.drawn_with is None:
            return False
        now, then = self.settings, self.drawn_with
        return (now.temperature, now.top_k, now.top_p) != (then.temperature, then.top_k, then.top_p)

    def _columns(self) -> tuple[int, int]:
        """(label width, stage column width) for the space there is."""
        width = self.size.width or 30
        if width >= 4 * BAR_COLUMN + 7:
            column = BAR_COLUMN
        else:
            column = 5 if width < 30 else 6 if width < 42 else 7
        return max(5, min(12, width - 2 - 4 * column)), column

    def _rows(self, pipeline: SamplingPipeline, drawn: int | None) -> list[int]:
        """Indices into the logits, likeliest first; the drawn token always has a row."""
        room = (self.size.height or 9) - 3 - bool(self.problem)  # header, rest, kept
        rows = list(range(min(max(1, room), MAX_ROWS, len(pipeline.stages[0].probs))))
        if drawn is not None and drawn not in rows:
            rows[-1] = drawn
        return rows

    def _cuts(self, pipeline: SamplingPipeline, rows: list[int]) -> dict[int, int]:
        """Stage -> the first row it drops (of those the stage before kept): its cut-off line."""
        cuts = {}
        for n in range(1, len(pipeline.stages)):
            for row in rows:
                if self._p(pipeline, n, row) == 0 and self._p(pipeline, n - 1, row) > 0:
                    cuts[n] = row
                    break
        return cuts

    @staticmethod
    def _p(pipeline: SamplingPipeline, n: int, row: int) -> float:
        if pipeline.greedy and n:  # greedy: the top token, whatever the distribution
            return 1.0 if row == 0 else 0.0
        return pipeline.stages[n].probs[row]

    def render(self) -> Content:
        muted = "$foreground-muted"
        if self.token is None:
            return Content.styled("Each step's sampling pipeline appears here.", muted)
        if self.pipeline is None:
            return Content.styled("No logits came with this step: generate again.", muted)
        token, pipeline = self.token, self.pipeline
        ids = token.logits.token_ids
        drawn = ids.index(token.token_id) if token.token_id in ids else None
        label_width, width = self._columns()
        lines = []
        if self.problem:
            lines.append(Content.styled(self.problem, "$warning").truncate(label_width + 4 * width))
        lines.append(self._header(label_width, width))
        rows = self._rows(pipeline, drawn)
        cuts = self._cuts(pipeline, rows)
        for row in rows:
            lines.append(self._row(pipeline, row, row == drawn, cuts, label_width, width))
        lines.append(self._rest(pipeline, rows, label_width, width))
        kept = [count(stage.kept) for stage in pipeline.stages]
        lines.append(
            spaced(
                learn_link("kept", PIPELINE, style=muted),
                " " * max(0, label_width - 4),
                *(cell(value, width, muted) for value in kept),
            )
        )
        if len(lines) < (self.size.height or 0):
            lines.append(
                spaced((f"{CUT * 2} a stage cuts here, · dropped, {DRAWN} drawn", muted)).truncate(
                    label_width + 4 * width + 2, ellipsis=True
                )
            )
        return Content("\n").join(lines)

    @property
    def note(self) -> str:
        """The border's subtitle: whose settings the table shows."""
        if self.pipeline is None:
            return ""
        if self.pipeline.greedy:
            return "T=0: greedy"
        return "settings changed since" if self.changed else "as drawn"

    def _header(self, label_width: int, width: int) -> Content:
        headers = stage_headers(self.settings)
        if self.pipeline.greedy:
            headers[2:] = ["k —", "p —"]  # greedy takes the top: top-k and top-p are not used
        links = ["Logits", SAMPLING, SAMPLING, SAMPLING]  # raw: softmax of the logits
        parts: list = [
            learn_link("token", "Token", style="$foreground-muted"),
            " " * max(0, label_width - 5),
        ]
        for text, heading, stage in zip(headers, links, self.pipeline.stages, strict=True):
            style = "bold" if stage.active else "$foreground-muted"
            text = fit(text, width - 1).rstrip()
            pad = width - len(text)
            left = pad // 2 if width >= BAR_COLUMN else pad  # over number and bar, or the number
            parts.append(" " * left)  # the padding is not part of the link
            parts.append(learn_link(text, heading, f"{style} underline"))
            parts.append(" " * (pad - left))
        return spaced(*parts)

    def _row(
        self,
        pipeline: SamplingPipeline,
        row: int,
        drawn: bool,
        cuts: dict[int, int],
        label_width: int,
        width: int,
    ) -> Content:
        label = fit(cell_label(self.token.logits.texts[row]), label_width)
        parts: list = [(label, "$accent bold" if drawn else "$foreground-muted")]
        for n in range(len(pipeline.stages)):
            p = self._p(pipeline, n, row)
            if p == 0 and cuts.get(n) == row:
                parts.append((" " + CUT * (width - 1), "$warning"))
            elif p == 0:
                parts.append(cell("·", width, "$foreground-muted"))
            else:
                style = "$accent bold" if drawn and n == 3 else "$foreground"
                if width >= BAR_COLUMN:  # room for a bar: the distribution's shape at a glance
                    parts.append((percent(p).rjust(NUMBER), style))
                    color = "$accent" if drawn else "$primary"
                    parts.append((" " + bar(p, width - NUMBER - 1), color))
                else:
                    parts.append(cell(percent(p), width, style))
        if drawn:
            parts += [" ", learn_link(DRAWN, SAMPLING, style="$accent")]
        return spaced(*parts)

    def _rest(
        self, pipeline: SamplingPipeline, rows: list[int], label_width: int, width: int
    ) -> Content:
        """The mass of every token without a row, the tail outside the logits carried included."""
        label = "rest" if pipeline.exact else "rest≈"
        parts: list = [
            learn_link(label, PIPELINE, style="$foreground-muted"),
            " " * max(0, label_width - len(label)),
        ]
        for n in range(len(pipeline.stages)):
            shown = sum(self._p(pipeline, n, row) for row in rows)
            rest = max(0.0, 1.0 - shown)
            parts.append(cell(percent(rest if rest > 5e-4 else 0), width, "$foreground-muted"))
        return spaced(*parts)
