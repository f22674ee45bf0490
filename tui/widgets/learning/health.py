"""The Learning view's health pane: small multiples over steps (one per statistic, sharing the x
axis and the layers' colours) and the verdicts the rules of thumb give at the step shown.

`show(history, step)` draws everything from the history and the step shown (None: the latest).
One item is selected, a chart or a verdict (↑/↓); `selected_heading` is its Learn entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content

from engine import INDUCTION_THRESHOLD, UPDATE_GUIDE
from tui.format import learn_link
from tui.state.learning import LearningHistory, Series, head_name
from tui.state.verdicts import Verdict, verdicts
from tui.widgets.learning.multiple import RGB, Figure, Line, SmallMultiple
from tui.widgets.safe_text import SafeStatic

# Okabe and Ito's colour-blind-safe palette, one colour a block (cycled past six), without its
# orange: the step shown is drawn in the theme's accent. The embeddings and an untied head are
# grey; phase changes are vertical lines in the foreground colour.
LAYER_COLORS: list[RGB] = [
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (204, 121, 167),
    (213, 94, 0),
    (0, 114, 178),
]
OTHER_COLORS: dict[str, RGB] = {"emb": (150, 150, 150), "head": (210, 210, 210)}
GROUP_ENTRIES = {"emb": "Position and token embeddings", "head": "Untied LM head"}
STATS = "Training statistics"
POINTS = 300  # readings drawn per series at most (a chart is far narrower)


def color_of(name: str) -> RGB:
    """A series' colour: its block's (L1, L1H0), or grey for the embeddings and the head."""
    if name in OTHER_COLORS:
        return OTHER_COLORS[name]
    layer = int(name[1:].split("H")[0])
    return LAYER_COLORS[layer % len(LAYER_COLORS)]


def number(value: float, digits: int = 2) -> str:
    """A value with a true minus sign."""
    return f"{value:.{digits}f}".replace("-", "−")


def span(values: list[float], digits: int = 2, unit: str = "") -> str:
    """'0.31 to 0.94', or one value when they agree."""
    if not values:
        return "–"
    low, high = number(min(values), digits), number(max(values), digits)
    return f"{low}{unit}" if low == high else f"{low} to {high}{unit}"


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    heading: str  # its Learn entry
    series: Callable[[LearningHistory], Series]
    # The values at the step shown, longest first: the header shows the first that fits.
    summary: Callable[[LearningHistory, int | None], list[str]]
    guides: Callable[[LearningHistory], tuple[float, ...]] = lambda history: ()
    floor: float | None = None


def _values_at(series: Series, step: int | None) -> dict[str, float]:
    """Each series' last value at or before `step` (None: its last)."""
    out = {}
    for name, points in series.items():
        kept = [v for s, v in points if step is None or s <= step]
        if kept:
            out[name] = kept[-1]
    return out


def _updates(history: LearningHistory, step: int | None) -> list[str]:
    values = list(_values_at(history.update_ratios(POINTS), step).values())
    return [f"{span(values, 1)} · guide {number(UPDATE_GUIDE, 0)}", span(values, 1)]


def _grads(history: LearningHistory, step: int | None) -> list[str]:
    return [span(list(_values_at(history.grad_norms(POINTS), step).values()))]


def _units(history: LearningHistory, step: int | None) -> list[str]:
    dead = span(list(_values_at(history.dead_units(POINTS), step).values()), 0, "%")
    near = span(list(_values_at(history.near_zero(POINTS), step).values()), 0, "%")
    return [f"{dead} · faint: near 0, {near}", f"{dead} · near 0 {near}", dead]


def _entropy(history: LearningHistory, step: int | None) -> list[str]:
    values = span(list(_values_at(history.entropies(POINTS), step).values()))
    return [f"{values} · even {number(history.uniform_entropy)}", values]


def _scores(history: LearningHistory, step: int | None) -> list[str]:
    values = _values_at(history.max_scores(POINTS), step)
    if not values:
        return ["–"]
    name = max(values, key=lambda n: values[n])
    return [f"top {number(values[name], 1)} ({name})", number(values[name], 1)]


def _induction(history: LearningHistory, step: int | None) -> list[str]:
    scored = history.scores_at(step)
    if scored is None or not scored.heads:
        return ["–"]
    best = max(scored.heads, key=lambda h: h.induction)
    top = f"{number(best.induction)} ({head_name(best.layer, best.head)})"
    return [f"top {top} · ICL {number(scored.icl_score)}", f"top {top}", number(best.induction)]


def _dead_and_near(history: LearningHistory) -> Series:
    near = {f"{name} near": points for name, points in history.near_zero(POINTS).items()}
    return {**history.dead_units(POINTS), **near}


CHARTS = (
    Chart(
        "updates", "update:data, log10", "Update-to-data ratio",
        lambda h: h.update_ratios(POINTS), _updates, lambda h: (UPDATE_GUIDE,),
    ),
    Chart(
        "grads", "gradient norm", "Gradient norm and clipping",
        lambda h: h.grad_norms(POINTS), _grads, floor=0.0,
    ),
    Chart(
        "units", "dead MLP units", "Dead units",
        _dead_and_near, _units, floor=0.0,
    ),
    Chart(
        "entropy", "attention entropy", "Attention entropy and largest score",
        lambda h: h.entropies(POINTS), _entropy,
        lambda h: (h.uniform_entropy,) if h.uniform_entropy else (), floor=0.0,
    ),
    Chart(
        "scores", "largest attention score", "Attention entropy and largest score",
        lambda h: h.max_scores(POINTS), _scores,
    ),
    Chart(
        "induction", "induction score", "Induction head",
        lambda h: h.induction(), _induction, lambda h: (INDUCTION_THRESHOLD,), floor=0.0,
    ),
)  # fmt: skip


def figure_of(
    chart: Chart, history: LearningHistory, step: int | None, cut: bool = False
) -> Figure:
    """What one chart draws: its series in their blocks' colours (a second, faint set for the
    units' near-zero share), its guides, the phase changes and the step shown: a line across
    the whole history, or with `cut` (a replay) the history up to that step only."""
    lines = []
    cut_at = step if cut and step is not None else None
    for name, points in chart.series(history).items():
        base, _, faint = name.partition(" ")
        color = color_of(base)
        if faint:
            red, green, blue = color
            color = (round(red * 0.45), round(green * 0.45), round(blue * 0.45))
        kept = tuple(p for p in points if cut_at is None or p[0] <= cut_at)
        lines.append(Line(kept, color))
    latest = history.steps[-1] if history.steps else None
    low, high = history.x_range()
    return Figure(
        lines=tuple(lines),
        x_range=(low, max(low + 1, cut_at)) if cut_at is not None else (low, high),
        guides=chart.guides(history),
        marks=tuple(p.step for p in history.phases_until(cut_at)),
        shown=step if step is not None and step != latest and cut_at is None else None,
        floor=chart.floor,
    )


def wrap(entries: list[Content], width: int, gap: str = "  ") -> Content:
    """Entries on lines of at most `width` cells, broken between entries only."""
    lines: list[list[Content]] = [[]]
    used = 0
    for entry in entries:
        if lines[-1] and used + len(gap) + entry.cell_length > width:
            lines.append([])
            used = 0
        used += entry.cell_length + (len(gap) if lines[-1] else 0)
        lines[-1].append(entry)
    return Content("\n").join(Content(gap).join(line) for line in lines)


class ChartCell(Vertical):
    """A chart's header (its title, a link to its Learn entry, and its values at the step
    shown) over the chart."""

    DEFAULT_CSS = "ChartCell { height: 1fr; } ChartCell > SafeStatic { height: 1; }"

    def __init__(self, chart: Chart, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chart = chart

    def compose(self) -> ComposeResult:
        yield SafeStatic(classes="chart-header")
        yield SmallMultiple()

    def show(
        self, history: LearningHistory, step: int | None, selected: bool, cut: bool = False
    ) -> None:
        chart = self.chart
        style = "bold reverse $accent" if selected else "bold underline"
        title = learn_link(chart.title, chart.heading, style)
        room = (self.size.width or 40) - title.cell_length - 1
        summaries = chart.summary(history, step)
        summary = next((s for s in summaries if len(s) <= room), "")
        header = Content.assemble(title, (f" {summary}", "$foreground") if summary else "")
        self.query_one(SafeStatic).update(header)
        self.query_one(SmallMultiple).show(figure_of(chart, history, step, cut))
        self.set_class(selected, "-selected")


class HealthPane(Vertical):
    """The small multiples, a legend of the blocks' colours, and the verdicts."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.selected = 0  # a chart (0..5), then a verdict
        self.verdicts: list[Verdict] = []

    def compose(self) -> ComposeResult:
        yield SafeStatic(id="health-legend")
        with VerticalScroll(id="health-scroll", can_focus=False):
            with Grid(id="health-grid"):
                for chart in CHARTS:
                    yield ChartCell(chart, id=f"chart-{chart.id}")
        yield SafeStatic(id="health-verdicts")

    @property
    def items(self) -> int:
        return len(CHARTS) + len(self.verdicts)

    @property
    def selected_heading(self) -> str:
        if self.selected < len(CHARTS):
            return CHARTS[self.selected].heading
        return self.verdicts[self.selected - len(CHARTS)].heading

    def move(self, delta: int) -> None:
        self.selected = max(0, min(self.items - 1, self.selected + delta))

    def show(self, history: LearningHistory, step: int | None, cut: bool = False) -> None:
        """Draw the history at `step` (None: the latest); `cut`: only what came until then."""
        self.verdicts = verdicts(history, step)
        self.selected = min(self.selected, self.items - 1)
        for n, cell in enumerate(self.query(ChartCell)):
            cell.show(history, step, n == self.selected, cut)
        if self.selected < len(CHARTS):
            cell = self.query_one(f"#chart-{CHARTS[self.selected].id}", ChartCell)
            self.query_one("#health-scroll", VerticalScroll).scroll_to_widget(
                cell, animate=False, immediate=True
            )
        self._show_legend(history, step, cut)
        self._show_verdicts()

    def _show_legend(self, history: LearningHistory, step: int | None, cut: bool) -> None:
        stats = history.stats[-1] if history.stats else None
        groups = sorted({w.layer for w in stats.weights if w.layer is not None}) if stats else []
        names = (["emb"] if stats else []) + [f"L{layer}" for layer in groups]
        if stats and any(w.matrix == "head" for w in stats.weights):
            names.append("head")
        entries: list[Content] = []
        for name in names:
            color = "#{:02x}{:02x}{:02x}".format(*color_of(name))
            link = learn_link(name, GROUP_ENTRIES.get(name, "Transformer"), "")
            entries.append(Content.assemble(("━ ", color), link))
        entries += [
            Content.assemble(("── ", "$foreground-muted"), learn_link("rule of thumb", STATS, "")),
            Content.assemble(("│ ", "$foreground"), learn_link("phase change", "Phase change", "")),
        ]
        if step is not None and not cut:
            entries.append(Content.assemble(("│ ", "$accent"), "step shown"))
        last = groups[-1] if groups else 1  # a head of this model's, named the way the charts do
        entries.append(learn_link(f"L{last}H0: block {last}'s head 0", STATS, ""))
        legend = self.query_one("#health-legend", SafeStatic)
        legend.update(wrap(entries, (legend.content_region.width or self.size.width) or 80))

    def _show_verdicts(self) -> None:
        lines = []
        for n, verdict in enumerate(self.verdicts):
            warning = verdict.level == "warning"
            mark = Content.styled("▲ " if warning else "• ", "$warning" if warning else "$accent")
            selected = n + len(CHARTS) == self.selected
            link = learn_link(verdict.text, verdict.heading, "reverse" if selected else "")
            lines.append(Content.assemble(mark, link))
        widget = self.query_one("#health-verdicts", SafeStatic)
        widget.update(Content("\n").join(lines) if lines else "no readings yet")
