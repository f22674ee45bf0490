"""The Learning view: how the model learns, not what it computes. Three panes (h, l, m):

- health: small multiples over steps of the training statistics and head scores, with verdicts
  where a rule of thumb applies (tui/widgets/learning/health.py);
- lens: the logit lens on the probe text, as stored at each eval (the time-lapse);
- map: the token embeddings' 2-D map, as stored at each eval.

Everything drawn is a function of the data and of one step, `step_shown` (None: the latest):
←/→ move it, and `show_step` is the hook a replay clock calls. The lens and map are asked of the
engine in a thread (View.ask), one snapshot at a time, and kept: scrubbing back costs nothing.
"""

from __future__ import annotations

from bisect import bisect_right

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import ContentSwitcher

from engine import (
    EmbeddingMap,
    EvalCompleted,
    Event,
    LogitLens,
    RunClient,
    TrainingStarted,
    visible,
)
from tui.format import learn_link, probability
from tui.messages import LearnAsked
from tui.screens.help import ViewHelp
from tui.state.learning import LearningHistory, lens_sureness
from tui.views.attention import cut_note, unknown_note
from tui.views.view import View
from tui.widgets.learning.embedding_plot import EmbeddingPlot
from tui.widgets.learning.health import HealthPane, color_of
from tui.widgets.learning.lens_grid import LensGrid
from tui.widgets.learning.multiple import Figure, Line, SmallMultiple
from tui.widgets.safe_text import SafeStatic

PANES = {"health": ("h", "Health"), "lens": ("l", "Logit lens"), "map": ("m", "Embedding map")}
PANE_ENTRIES = {"lens": "Logit lens", "map": "Embedding map"}
LensReply = tuple[list[int], int, LogitLens]
MapReply = tuple[list[int], int, EmbeddingMap]


def step_before(steps: list[int], step: int | None) -> int | None:
    """The last of `steps` at or before `step` (None: the last of all); None if there is none."""
    if not steps:
        return None
    if step is None:
        return steps[-1]
    index = bisect_right(steps, step) - 1
    return steps[index] if index >= 0 else None


def step_after(steps: list[int], shown: int | None, delta: int) -> int | None:
    """The step `delta` places from `shown` among `steps` (shown None: the latest); None when
    that is the last of them, which is the latest and follows new ones."""
    index = len(steps) - 1 if shown is None else bisect_right(steps, shown) - 1
    index += delta
    return None if index >= len(steps) - 1 else steps[max(0, index)]


class LearningView(View):
    """Owns the learning history, the step shown, and the snapshots fetched so far."""

    REPLAY_ARROWS = True  # ←/→ step the readings, which a replay moves by eval

    HELP = ViewHelp(
        "Learning",
        """\
How the model **learns**, measured as it trains. Three panes: `h` health, `l` logit lens,
`m` embedding map.

**Health**: small multiples over steps, one colour per layer (the per-head charts draw a line per
head in its layer's colour). The **update:data** ratio (log10 of how much a step changes the
weights, against their size) with its rule of thumb, −3; each layer's **gradient norm**; the
share of MLP units that are **dead** (never fire) or near zero; each head's **attention entropy**
(how spread its attention is; the line is even attention) and its **largest score**; each head's
**induction score** (the line is where a head counts as formed). Vertical lines mark **phase
changes**. Under them, verdicts where a rule of thumb applies, and the speed in FLOP/s (MFU).

**Logit lens**: for the probe text, what each layer would predict next if the model stopped
there; brighter is surer, ✓ a right guess. Watch later rows sharpen first, and earlier rows learn
later. **Embedding map**: every token's embedding on its first two principal components, the most
frequent labelled: tokens used alike drift together.

Keys: `←`/`→` earlier or later step (health) or snapshot (lens, map), `end` the latest ·
`↑`/`↓` pick a chart or a verdict · **enter** opens its Learn entry (the lens's or map's in those
panes) · `[`/`]` more positions of a long text in the lens.""",
        [
            "Training statistics",
            "Update-to-data ratio",
            "Gradient norm and clipping",
            "Dead units",
            "Attention entropy and largest score",
            "Induction head",
            "In-context learning",
            "Phase change",
            "Logit lens",
            "Embedding map",
            "MFU",
            "Residual connection",
        ],
    )

    BINDINGS = [
        Binding("h", "pane('health')", "Health", show=False),
        Binding("l", "pane('lens')", "Lens", show=False),
        Binding("m", "pane('map')", "Map", show=False),
        Binding("left", "step(-1)", "Earlier", show=False),
        Binding("right", "step(1)", "Later", show=False),
        Binding("end", "latest", "Latest", show=False),
        Binding("up", "select(-1)", "Up", show=False),
        Binding("down", "select(1)", "Down", show=False),
        Binding("enter", "explain", "Explain"),
        Binding("left_square_bracket", "positions(-1)", "Positions ←", show=False),
        Binding("right_square_bracket", "positions(1)", "Positions →", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.can_focus = True  # the view itself takes the keys: it has no text field
        self.history = LearningHistory()
        self.step_shown: int | None = None  # None: the latest
        self.replaying = False  # the step shown is a replay's: the charts end there
        self.pane = "health"
        self.snapshots: list[int] = []  # the steps the engine stored a lens and a map at
        self.lenses: dict[int, LogitLens] = {}
        self.maps: dict[int, EmbeddingMap] = {}
        self.error: str | None = None
        self._stale = True  # the health pane has data it has not drawn

    def compose(self) -> ComposeResult:
        yield SafeStatic(id="learning-panes")
        yield SafeStatic(id="learning-info")
        with ContentSwitcher(id="learning-body", initial="learning-health"):
            yield HealthPane(id="learning-health")
            with Vertical(id="learning-lens"):
                yield SafeStatic(id="lens-caption")
                yield LensGrid(id="lens-grid")
                yield SafeStatic(id="lens-trend-header")
                yield SmallMultiple(id="lens-trend")
            yield EmbeddingPlot(id="learning-map")

    def on_mount(self) -> None:
        self._render_panes()
        self._render_info()
        self.query_one("#lens-caption", SafeStatic).update(
            Content.assemble(
                learn_link("Logit lens", "Logit lens", "bold underline"),
                ": the next token each layer would guess if the model stopped there (through "
                "the final LayerNorm and head); the last row is the model's own.",
            )
        )

    def focus_main(self) -> None:
        self.focus()

    def set_client(self, client: RunClient) -> None:
        super().set_client(client)
        if self.showing:
            self.entered()

    def ingest(self, events: list[Event]) -> None:
        if self.history.add(events):
            self._stale = True
        new_snapshot = any(isinstance(e, EvalCompleted) for e in events)
        if any(isinstance(e, TrainingStarted) for e in events):
            self.lenses.clear()  # a new run, or a resume: its snapshots are asked again
            self.maps.clear()
        if self.showing:
            self._redraw()
            if new_snapshot and self.step_shown is None and self.pane != "health":
                self.fetch()

    def entered(self) -> None:
        self._redraw()
        if self.pane != "health":
            self.fetch()

    def show_step(self, step: int | None, *, replay: bool = False) -> None:
        """Show the learning at `step` (None: the latest). ←/→ draw the whole history with a
        line at the step; a replay clock passes `replay`, and the charts then end at the step,
        as if training had got that far."""
        self.step_shown, self.replaying = step, replay and step is not None
        self._stale = True
        if self.showing:
            self._redraw()
            if self.pane != "health":
                self.fetch()

    # --- drawing -----------------------------------------------------------------------------

    def _redraw(self) -> None:
        if self.pane == "health" and self._stale:
            self._stale = False
            self.query_one(HealthPane).show(self.history, self.step_shown, self.replaying)
        self._render_info()

    def _render_panes(self) -> None:
        parts: list[Content | str] = []
        for pane, (key, label) in PANES.items():
            style = "bold reverse $primary" if pane == self.pane else "$foreground-muted"
            action = f"@click=pane({pane!r})"
            parts.append(Content.styled(f" {key}", f"bold $accent {action}"))
            parts.append(Content.styled(f" {label} ", f"{style} {action}"))
            parts.append(" ")
        self.query_one("#learning-panes", SafeStatic).update(Content.assemble(*parts))

    def _snapshot_shown(self) -> int | None:
        return step_before(self.snapshots, self.step_shown)

    def _render_info(self) -> None:
        info = self.query_one("#learning-info", SafeStatic)
        room = info.size.width or 200
        if self.error is not None:
            info.update(f"[$error]unavailable:[/] {escape(visible(self.error))}")
            return
        parts: list[Content | str] = []
        if self.pane == "health":
            keys = " · ←/→ step · ↑/↓ pick · enter explains"
            steps = self.history.steps
            if not steps:
                text = "No training statistics yet: they come every stats_every steps."
                parts.append(learn_link(text, "Training statistics", ""))
            else:
                shown = step_before(steps, self.step_shown)
                if shown is None:
                    parts.append(f"step {self.step_shown:,}: before the first reading")
                else:
                    latest = shown == steps[-1] and not self.replaying
                    place = "latest" if latest else f"{steps.index(shown) + 1}/{len(steps)}"
                    parts.append(f"step {shown:,} ({place})")
        else:
            keys = " · ←/→ snapshot · end latest"
            parts += self._snapshot_info(room)
            if self.pane == "lens":
                keys += " · [ ] positions"
        if Content.assemble(*parts).cell_length + len(keys) <= room:
            parts.append(keys)
        info.update(Content.assemble(*parts))

    def _snapshot_info(self, room: int | None = None) -> list[Content | str]:
        shown = self._snapshot_shown()
        if shown is None:
            return ["No snapshots yet: the engine stores one at every eval."]
        n = self.snapshots.index(shown) + 1
        parts: list[Content | str] = [f"snapshot {n}/{len(self.snapshots)}, step {shown:,}"]
        if self.pane == "lens" and (lens := self.lenses.get(shown)) is not None:
            grid = self.query_one(LensGrid)
            columns, T = grid.columns(), len(lens.tokens)
            if len(columns) < T:
                parts.append(f" · positions {columns.start + 1}–{columns.stop} of {T} ([ ] more)")
            if lens.truncated:
                parts += [" · ", cut_note(T)]
            if lens.unknown:
                parts += [" · ", unknown_note(list(lens.unknown), 30)]
        elif self.pane == "map" and (emap := self.maps.get(shown)) is not None:
            labelled = self.query_one(EmbeddingPlot).labels_shown
            count = f" · {len(emap.texts)} tokens, "
            if labelled == emap.labelled:
                parts.append(f"{count}the {labelled} most frequent labelled")
            else:
                parts.append(f"{count}{labelled} of the {emap.labelled} most frequent labelled")
                if Content.assemble(*parts).cell_length + 17 <= (room or 200):
                    parts.append(" (others overlap)")
        return parts

    # --- asking the engine -------------------------------------------------------------------

    def fetch(self) -> None:
        """Ask for the snapshot list and the lens or map at the step shown (unless kept)."""
        wanted, pane = self.step_shown, self.pane
        kept = self.lenses if pane == "lens" else self.maps

        def request(client: RunClient) -> tuple:
            steps = client.attention_steps()
            step = step_before(steps, wanted)
            if step is None:
                return steps, None, None
            if step in kept:
                return steps, step, kept[step]
            answer = client.logit_lens_at(step) if pane == "lens" else client.embedding_map_at(step)
            return steps, step, answer

        self.ask(request, self._show_snapshot, self._failed, group=f"learning-{pane}")

    def _show_snapshot(self, reply: tuple) -> None:
        steps, step, answer = reply
        self.snapshots, self.error = list(steps), None
        if step is not None and isinstance(answer, LogitLens):
            self.lenses[step] = answer
        elif step is not None and isinstance(answer, EmbeddingMap):
            self.maps[step] = answer
        self._show_pane_data()

    def _gather_lenses(self) -> None:
        """Ask for the stored lenses not seen yet, one at a time, for the trend under the grid:
        each is a few rows of a short text, so all of them are kept."""
        wanted = [step for step in self.snapshots if step not in self.lenses]
        if not wanted or self.pane != "lens" or not self.showing:
            return
        step = wanted[-1]  # the newest first: the trend grows back from now
        self.ask(
            lambda client: client.logit_lens_at(step),
            self._lens_gathered,
            lambda _reason: None,  # a missing snapshot leaves a gap in the trend
            group="learning-lens-history",
        )

    def _lens_gathered(self, lens: LogitLens) -> None:
        self.lenses[lens.step] = lens
        self._show_trend()
        self._gather_lenses()

    def _show_trend(self) -> None:
        """The right answer's mean probability per lens row over the snapshots: later rows
        sharpen first, earlier ones learn later."""
        series = lens_sureness(self.lenses)
        steps = sorted(self.lenses)
        shown = self._snapshot_shown()
        lines = tuple(Line(tuple(points), color_of(name)) for name, points in series.items())
        latest = self.snapshots[-1] if self.snapshots else None
        self.query_one("#lens-trend", SmallMultiple).show(
            Figure(
                lines=lines,
                x_range=(steps[0], max(steps[-1], steps[0] + 1)) if steps else (0, 1),
                shown=shown if shown != latest else None,
                floor=0.0,
                empty="the trend comes once the snapshots are read",
            )
        )
        if shown is not None and (lens := self.lenses.get(shown)) is not None:
            series = lens_sureness({shown: lens})
        now = {name: points[-1][1] for name, points in series.items() if points}
        values = Content(" ").join(
            Content.assemble((name, "#{:02x}{:02x}{:02x}".format(*color_of(name))), " ",
                             probability(p))
            for name, p in now.items()
        )  # fmt: skip
        title = learn_link("right answer's probability", "Logit lens", "bold underline")
        widget = self.query_one("#lens-trend-header", SafeStatic)
        room = (widget.content_region.width or 80) - title.cell_length
        lead = next(
            (t for t in (", mean over the text: ", ": ") if len(t) + values.cell_length <= room),
            None,
        )
        tail = Content.assemble(lead, values) if lead and now else Content(", per layer")
        widget.update(Content.assemble(title, tail))

    def _show_pane_data(self) -> None:
        shown = self._snapshot_shown()
        if self.pane == "lens":
            self.query_one(LensGrid).show(self.lenses.get(shown) if shown is not None else None)
            self._show_trend()
            self._gather_lenses()
        elif self.pane == "map":
            plot = self.query_one(EmbeddingPlot)
            plot.show(self.maps.get(shown) if shown is not None else None)
        self._render_info()

    @on(EmbeddingPlot.Labelled)
    def _labelled(self) -> None:
        self._render_info()  # how many labels fit is known once the map is drawn

    def _failed(self, reason: str) -> None:
        self.error = reason
        self._render_info()

    def on_resize(self) -> None:
        self._render_info()

    # --- actions -----------------------------------------------------------------------------

    def action_pane(self, pane: str) -> None:
        if pane == self.pane:
            return
        self.pane, self.error = pane, None
        self.query_one(ContentSwitcher).current = f"learning-{pane}"
        self._render_panes()
        self._stale = True
        self._redraw()
        if pane != "health":
            self._show_pane_data()
            self.fetch()

    def replay_moved(self) -> None:
        self.show_step(self.at_step, replay=True)

    def action_step(self, delta: int) -> None:
        if self.clock is not None and self.at_step is not None:
            self.clock.step_eval(delta)  # the readings follow the replay: it moves by eval
            return
        steps = self.history.steps if self.pane == "health" else self.snapshots
        if not steps:
            self.notify("Nothing stored yet to step through.", timeout=2)
            return
        self.show_step(step_after(steps, self.step_shown, delta))

    def action_latest(self) -> None:
        if self.at_step is not None:
            return  # the replay's step is shown; esc goes back to live
        self.show_step(None)

    def action_select(self, delta: int) -> None:
        if self.pane == "health":
            pane = self.query_one(HealthPane)
            pane.move(delta)
            pane.show(self.history, self.step_shown, self.replaying)

    def action_explain(self) -> None:
        heading = (
            self.query_one(HealthPane).selected_heading
            if self.pane == "health"
            else PANE_ENTRIES[self.pane]
        )
        self.post_message(LearnAsked(heading))

    def action_positions(self, delta: int) -> None:
        if self.pane == "lens":
            self.query_one(LensGrid).scroll_columns(delta)
            self._render_info()
