"""The Attention view: probe text, layer/head pickers, the heatmap, all heads and query bars.

Maps come from the engine in thread workers. "Live" shows the current model on the text in the
input; ←/→ scrub through the snapshots the engine stored at each eval, which are all of one text,
the run's probe: while scrubbing, the input shows that probe and the info line says so. Each
head is labelled with its role (engine.lens.head_roles, plain Python, run in the request's thread),
and the roles of every stored snapshot are gathered one snapshot at a time, to show how a head's
role grew.

While the run is replayed (View.at_step), the view shows the probe's snapshot stored at or before
the replayed step, or, for a text of one's own, the weights kept nearest before it (client.
attention(text, at_step=...)), and says which; ←/→ then move the replay by eval.
"""

from __future__ import annotations

from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.content import Content
from textual.widgets import Input, Select, Static, Switch

from engine import (
    AttentionMap,
    EvalCompleted,
    Event,
    HeadRole,
    RunClient,
    SampleConfig,
    SampleGenerated,
    StepCompleted,
    TrainingStarted,
    head_roles,
    visible,
)
from tui.format import fit, learn_link, unknown_words
from tui.screens.help import ViewHelp
from tui.views.view import View
from tui.widgets.attention.attention_bars import AttentionBars
from tui.widgets.attention.head_grid import SHORT_ROLES, HeadGrid, role_label
from tui.widgets.attention.heatmap import AttentionHeatmap
from tui.widgets.safe_text import SafeInput, SafeLabel, SafeStatic

AUTO_REFRESH_S = 5.0
# The time-lapse has no glossary entry of its own: its snapshots are attention maps.
SNAPSHOTS = "Attention and self-attention"
MapReply = tuple[AttentionMap, list[int], tuple[HeadRole, ...]]  # a map, the stored steps, roles
REPLAY = "Replay and kept weights"
# A replayed step's map: the MapReply, the kept steps, and whether the map is a stored snapshot.
ReplayReply = tuple[MapReply, list[int], bool]


def probe_from_sample(text: str, limit: int = 60) -> str:
    """The first non-empty line of a sample, cut at a word boundary near `limit` characters."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


CONTEXT = "Block size (context window)"


def cut_note(tokens: int) -> Content:
    """That a text was cut to the context window: a link to what that is."""
    return learn_link(f"cut to {tokens} tokens", CONTEXT, "$warning underline")


def unknown_note(words: list[str], room: int) -> Content:
    """The words the vocabulary lacks, each once, in at most `room` cells (tui.format)."""
    return Content.styled(unknown_words(words, room), "$error")


def role_history_line(
    history: dict[int, tuple[HeadRole, ...]], layer: int, head: int, keep: int = 2
) -> str:
    """How one head's role changed over the snapshots: "h1: mixed → prev at 600"."""
    roles = []
    for step in sorted(history):
        role = next((r.role for r in history[step] if (r.layer, r.head) == (layer, head)), None)
        if role is not None:
            roles.append((step, SHORT_ROLES.get(role, role)))
    if len(roles) < 2:
        return ""
    changes = [roles[0]] + [b for a, b in zip(roles, roles[1:], strict=False) if a[1] != b[1]]
    if len(changes) == 1:
        return f"h{head}: {changes[0][1]} since step {changes[0][0]:,}"
    text = " → ".join(f"{role} at {step:,}" for step, role in changes[1:][-keep:])
    start = "…" if len(changes) - 1 > keep else changes[0][1]
    return f"h{head}: {start} → {text}"


class MapFrame(ScrollableContainer, can_focus=False, inherit_bindings=False):
    """The heatmap's scrolling frame. The mouse scrolls it; the keys stay the view's (↑/↓ move
    the query, and the frame follows it; ←/→ scrub), or a long text's map would take them."""


class AttentionView(View):
    """Owns the current AttentionMap and which layer, head and query are shown."""

    HELP = ViewHelp(
        "Attention",
        """\
Each row of the **heatmap** is a token asking "which tokens so far, myself included, matter to
me?"; each column is a token it may look at. Brighter means more attention (on a square-root
scale); each row sums to 1. Dots mark the future, which a causal model is not allowed to see.
The small maps show every head of the chosen layer, each labelled with its **role** and score
("prev .82": 82% of its attention on the previous token); the line under them says when the
selected head's role changed across the stored snapshots. Click a label for what roles mean.

Keys: `↑`/`↓` pick the query token (its bars list where it looks) · `[`/`]` head ·
`{`/`}` layer · `←`/`→` scrub through the snapshots stored at each eval, all of the run's probe
text · `r` refresh · `a` toggle auto refresh. `/` (or enter) types in the box, enter shows it.

While the run is **replayed** (`p` on the Train view), the map is the probe's snapshot stored at
or before the replayed step, and `←`/`→` move the replay by eval. A text of your own is looked at
with the weights kept nearest before that step: the line above the map says which step's.""",
        [
            "Attention and self-attention",
            "Keys, queries and values",
            "Causal masking",
            "Multi-head attention",
            "Softmax",
            "Token",
            "Block size (context window)",
            "Transformer",
            "Attention scores",
            "Square-root colour scale",
            "Head roles",
            REPLAY,
        ],
    )

    INPUT = "#attn-input"
    REPLAY_ARROWS = True  # they scrub the snapshots, which replay moves by eval

    BINDINGS = [
        Binding("up", "query(-1)", "Query ↑", show=False),
        Binding("down", "query(1)", "Query ↓", show=False),
        Binding("left", "scrub(-1)", "Earlier", show=False),
        Binding("right", "scrub(1)", "Later", show=False),
        Binding("right_square_bracket", "head(1)", "Head"),
        Binding("left_square_bracket", "head(-1)", "Prev head", show=False),
        Binding("right_curly_bracket", "layer(1)", "Next layer", show=False),
        Binding("left_curly_bracket", "layer(-1)", "Prev layer", show=False),
        Binding("a", "toggle_auto", "Auto refresh", show=False),
        Binding("r", "refresh_map", "Refresh", show=False),
    ]

    @classmethod
    def build(cls, sample: SampleConfig | None, **kwargs) -> View:
        return cls(probe=sample.probe if sample else "", **kwargs)

    def __init__(self, probe: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.amap: AttentionMap | None = None
        self.roles: tuple[HeadRole, ...] = ()  # of self.amap
        self.role_history: dict[int, tuple[HeadRole, ...]] = {}  # snapshot step -> its roles
        self._history_wanted: list[int] = []  # snapshots whose roles are still to be asked for
        self.layer_index = 0
        self.head_index = 0
        self.snapshots: list[int] = []
        self.snapshot_index: int | None = None  # None: live, else an index into snapshots
        self.probe = probe  # the text the live map is of
        self.probe_edited = False
        self.engine_probe = ""  # the text the engine's stored snapshots are of
        self.step = 0
        self._fetched_step = -1
        self.kept: list[int] | None = None  # the steps whose weights are kept, once asked
        self.replayed: tuple | None = None  # what the map of the replayed step is (_replay_want)

    def compose(self) -> ComposeResult:
        with Horizontal(id="attn-controls"):
            yield SafeInput(
                self.probe,
                placeholder="text to look at (/ to type, enter to show)",
                id="attn-input",
                compact=True,
            )
            yield Select([], prompt="layer", id="attn-layer", compact=True, allow_blank=True)
            yield Select([], prompt="head", id="attn-head", compact=True, allow_blank=True)
            yield SafeLabel("auto", id="attn-auto-label")
            yield Switch(value=True, id="attn-auto")
        yield SafeStatic(id="attn-info")
        with Horizontal(id="attn-body"):
            with MapFrame(id="attn-map-scroll"):
                yield AttentionHeatmap(id="attn-map")
            with Vertical(id="attn-side"):
                yield AttentionBars(id="attn-bars")
                yield HeadGrid(id="attn-grid")

    def on_mount(self) -> None:
        self.set_interval(AUTO_REFRESH_S, self._auto_refresh)
        self._render_info()
        scroll = self.query_one("#attn-map-scroll")
        self.watch(scroll, "scroll_y", self._show_extent, init=False)
        self.watch(scroll, "scroll_x", self._show_extent, init=False)
        self.watch(scroll, "virtual_size", self._show_extent, init=False)  # a new map's size

    def focus_main(self) -> None:
        self.query_one(AttentionHeatmap).focus()

    def set_client(self, client: RunClient) -> None:
        super().set_client(client)
        if self.at_step is not None:
            self.fetch_replayed(force=True)
        elif self.probe:
            self.fetch()

    @property
    def auto(self) -> bool:
        return self.query_one("#attn-auto", Switch).value

    def ingest(self, events: list[Event]) -> None:
        refresh = False
        for event in events:
            if isinstance(event, StepCompleted):
                self.step = event.step
            elif isinstance(event, TrainingStarted) and event.probe:
                # The engine's probe: the text its time-lapse snapshots were taken on.
                self.engine_probe = event.probe
                if not self.probe_edited:
                    self.probe = event.probe
                    self._show_input(self.probe)
                    refresh = True
            elif isinstance(event, EvalCompleted):
                refresh = True
            elif isinstance(event, SampleGenerated) and not self.probe and not self.probe_edited:
                self.probe = probe_from_sample(event.text)
                self._show_input(self.probe)
                refresh = True
        live = self.snapshot_index is None and self.at_step is None
        if refresh and self.client is not None and self.auto and live:
            self.fetch()

    def _show_input(self, text: str) -> None:
        self.query_one("#attn-input", Input).value = text

    def entered(self) -> None:
        """The view was switched to: a live map older than the run's step is fetched anew."""
        if self.at_step is not None:
            self.fetch_replayed()
            return
        stale = self.auto and self.snapshot_index is None and self.step != self._fetched_step
        if self.amap is None or stale:
            self.fetch()
        else:
            self._gather_history()

    def _auto_refresh(self) -> None:
        if (
            self.auto
            and self.snapshot_index is None
            and self.at_step is None
            and self.client is not None
            and self.probe
            and self.step != self._fetched_step
            and self.showing
        ):
            self.fetch()

    def fetch(self, step: int | None = None) -> None:
        """Ask for the live map of the probe, or for the snapshot stored at `step`."""
        if not self.probe and step is None:
            return
        text = self.probe

        def request(client: RunClient) -> MapReply:
            snapshots = client.attention_steps()
            amap = client.attention(text) if step is None else client.attention_at(step)
            return amap, snapshots, head_roles(amap)

        if self.ask(request, self._show_map, self._map_failed, group="attention"):
            self._fetched_step = self.step

    def replay_moved(self) -> None:
        if self.at_step is None:  # back to live: the text typed, now
            self.snapshot_index, self.replayed = None, None
            self._show_input(self.probe)
            self._fetched_step = -1
            if self.showing:
                self.fetch()
        elif self.showing:
            self.fetch_replayed()

    @property
    def own_text(self) -> bool:
        """Whether the text is one typed here rather than the probe the snapshots are of."""
        return self.probe_edited and self.probe != self.engine_probe

    def _replay_want(self, step: int) -> tuple:
        """What the replayed step's map is: a stored snapshot, or kept weights on a text."""
        if not self.own_text:
            stored = [s for s in self.snapshots if s <= step]
            if stored:
                return ("snapshot", stored[-1])
        if self.kept is None:
            return ("kept", self.probe, step)  # not known yet: ask
        before = [k for k in self.kept if k <= step]
        return ("kept", self.probe, before[-1] if before else None)

    def fetch_replayed(self, force: bool = False) -> None:
        """Ask for the replayed step's map, unless the one shown already is it."""
        step = self.at_step
        if step is None or not self.probe:
            return
        want = self._replay_want(step)
        if want == self.replayed and not force:
            self._render_info()  # the same map: only "at or before step N" changed
            return
        text, own = self.probe, self.own_text

        def request(client: RunClient) -> ReplayReply:
            snapshots, kept = client.attention_steps(), client.kept_steps()
            stored = [s for s in snapshots if s <= step]
            if stored and not own:
                amap = client.attention_at(stored[-1])
            else:
                amap = client.attention(text, at_step=step)
            return (amap, snapshots, head_roles(amap)), kept, bool(stored) and not own

        if self.ask(request, self._show_replayed, self._map_failed, group="attention"):
            self.replayed = want

    def _show_replayed(self, reply: ReplayReply) -> None:
        (amap, snapshots, roles), kept, stored = reply
        self.kept = kept
        self.snapshot_index = snapshots.index(amap.step) if stored else None
        if stored and self.engine_probe:
            self._show_input(self.engine_probe)
        if self.at_step is not None:
            self.replayed = self._replay_want(self.at_step)
        self._show_map((amap, snapshots, roles))

    def _show_map(self, reply: MapReply) -> None:
        amap, snapshots, roles = reply
        self.snapshots = list(snapshots)
        n_layer, n_head = amap.shape[0], amap.shape[1]
        if self.amap is None or self.amap.shape[:2] != amap.shape[:2]:
            self.layer_index = min(self.layer_index, n_layer - 1)
            self.head_index = min(self.head_index, n_head - 1)
            self._set_options(n_layer, n_head)
        self.amap, self.roles = amap, roles
        if self.snapshot_index is not None:
            self.role_history[amap.step] = roles
        self._redraw()
        if self.showing:
            self._gather_history()

    def _gather_history(self) -> None:
        """Ask for the roles of the stored snapshots not seen yet (one more after each eval)."""
        self._history_wanted = [step for step in self.snapshots if step not in self.role_history]
        self._next_roles()

    def _next_roles(self) -> None:
        # One snapshot at a time, keeping only its roles: the weights of every snapshot at once
        # could be large (layers × heads × T² floats each).
        if not self._history_wanted:
            return
        step = self._history_wanted.pop(0)
        self.ask(
            lambda client: head_roles(client.attention_at(step)),
            partial(self._roles_loaded, step),
            lambda _reason: self._next_roles(),  # a missing snapshot leaves a gap in the history
            group="head-history",
        )

    def _roles_loaded(self, step: int, roles: tuple[HeadRole, ...]) -> None:
        self.role_history[step] = roles
        self._show_history()
        self._next_roles()

    def _map_failed(self, reason: str) -> None:
        self.query_one("#attn-info", Static).update(
            Content.assemble(("attention unavailable:", "$error"), " ", visible(reason))
        )

    def _set_options(self, n_layer: int, n_head: int) -> None:
        with self.prevent(Select.Changed):
            layer = self.query_one("#attn-layer", Select)
            layer.set_options([(f"layer {i} of {n_layer}", i) for i in range(n_layer)])
            layer.value = self.layer_index
            head = self.query_one("#attn-head", Select)
            head.set_options([(f"head {i} of {n_head}", i) for i in range(n_head)])
            head.value = self.head_index

    def _redraw(self) -> None:
        amap = self.amap
        if amap is None:
            return
        heatmap = self.query_one(AttentionHeatmap)
        heatmap.show(amap.tokens, amap.matrix(self.layer_index, self.head_index))
        self._show_bars()
        maps = [amap.matrix(self.layer_index, h) for h in range(amap.shape[1])]
        labels = [role_label(r) for r in self.roles if r.layer == self.layer_index]
        self.query_one(HeadGrid).show(maps, self.head_index, labels)
        self._show_history()
        self._render_info()
        self.call_after_refresh(self._show_extent)  # once the map has its new size

    def _show_history(self) -> None:
        self.query_one(HeadGrid).border_subtitle = role_history_line(
            self.role_history, self.layer_index, self.head_index
        )

    def _show_bars(self) -> None:
        amap, query = self.amap, self.query_one(AttentionHeatmap).query_index
        if amap is not None and amap.tokens:
            self.query_one(AttentionBars).show(
                amap.tokens, query, amap.row(self.layer_index, self.head_index, query)
            )

    def _render_info(self) -> None:
        # Each separating space ends a run rather than starting one: some SVG renderers (rsvg)
        # drop a run's leading space, and screenshots read "live· step".
        amap = self.amap
        parts: list[Content | str] = []
        keys = ""  # how to go on: last, and only where it fits whole
        if amap is None:
            parts.append("Press / and type a text, then enter, to see where each token looks.")
        elif self.at_step is not None:
            parts += self._replay_info(amap, self.at_step)
            keys = " · ←/→ eval, esc live"
        elif self.snapshot_index is None:
            parts += [Content.from_markup("[b]live [/b]"), f"· step {amap.step:,}"]
            if self.snapshots:
                parts += [" · ← ", learn_link(f"{len(self.snapshots)} stored snapshots", SNAPSHOTS)]
        else:
            # Every snapshot is of the engine's probe, whatever the input held before.
            counter = f"snapshot {self.snapshot_index + 1}/{len(self.snapshots)}"
            parts += [
                learn_link(counter, SNAPSHOTS, "bold underline"),
                Content.styled(" ", "bold"),
                f"of the probe · step {amap.step:,}",
            ]
            keys = " · → later, live at the end"
        # The cut first: a long list of unknown words must not push it out of sight.
        if amap is not None and amap.truncated:
            parts += [" · ", cut_note(len(amap.tokens))]
        info = self.query_one("#attn-info", Static)
        if amap is not None and amap.unknown:
            room = (info.size.width or 200) - Content.assemble(*parts).cell_length - 3
            if note := unknown_note(amap.unknown, room - len(keys)):
                parts += [" · ", note]
        if Content.assemble(*parts).cell_length + len(keys) <= (info.size.width or 200):
            parts.append(keys)
        info.update(Content.assemble(*parts))

    def _replay_info(self, amap: AttentionMap, step: int) -> list[Content | str]:
        """Which map shows for the replayed step: the snapshot at or before it, or kept weights."""
        if self.snapshot_index is not None:
            counter = f"snapshot {self.snapshot_index + 1}/{len(self.snapshots)}"
            parts: list[Content | str] = [
                learn_link(counter, SNAPSHOTS, "bold underline"),
                Content.styled(" ", "bold"),
                f"of the probe · step {amap.step:,}",
            ]
            if amap.step != step:
                parts.append(f" (the last at or before {step:,})")
            return parts
        parts = [learn_link("kept weights", REPLAY, "bold underline"), f" of step {amap.step:,}"]
        if amap.step < step:
            parts.append(f", the nearest kept before {step:,}")
        elif amap.step > step:
            parts.append(f": none kept at or before {step:,}")
        return parts

    def on_resize(self) -> None:
        self._render_info()
        self.call_after_refresh(self._show_extent)

    def _show_extent(self) -> None:
        """Say on the map's border which rows and columns show, when it is cut, and how to see
        the rest: a long text's map is taller and wider than an 80×24 terminal's."""
        scroll = self.query_one(MapFrame)
        heatmap = self.query_one(AttentionHeatmap)
        T = len(heatmap.tokens)
        width, height = scroll.scrollable_content_region.size
        rows, columns = heatmap.extent(scroll.scroll_x, scroll.scroll_y, width, height)
        if not T or (len(rows) == T and len(columns) == T):
            scroll.border_subtitle = ""
            return
        span = {"rows": rows, "cols": columns}
        cut = [name for name, shown in span.items() if len(shown) < T]
        if len(cut) == 1:
            name, shown = ("columns" if cut == ["cols"] else "rows"), span[cut[0]]
            text = f"{name} {shown.start + 1}–{shown.stop} of {T}"
        else:
            text = (
                f"rows {rows.start + 1}–{rows.stop}, cols {columns.start + 1}–{columns.stop} of {T}"
            )
        room = scroll.size.width - 4
        for keys in (" · ↑/↓ scroll", ""):
            if len(text) + len(keys) <= room:
                scroll.border_subtitle = text + keys
                return
        scroll.border_subtitle = fit(text, room)

    def _follow_query(self) -> None:
        """Scroll the map up or down so that the query's row is in view; not sideways, which
        would take the row labels out of sight (the bars list where the query looks)."""
        heatmap = self.query_one(AttentionHeatmap)
        _, y = heatmap.cell_at(heatmap.query_index)
        scroll = self.query_one(MapFrame)
        height = scroll.scrollable_content_region.height
        if y < scroll.scroll_y or y >= scroll.scroll_y + height:
            top = y if y < scroll.scroll_y else y - height + 1
            scroll.scroll_to(y=top, animate=False, immediate=True)
        self._show_extent()

    @on(Input.Submitted, "#attn-input")
    def _probe_submitted(self, event: Input.Submitted) -> None:
        self.probe = event.value
        self.probe_edited = True
        self.snapshot_index = None
        if self.at_step is not None:
            self.fetch_replayed(force=True)
        else:
            self.fetch()
        self.focus_main()

    @on(Select.Changed, "#attn-layer")
    def _layer_picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, int):
            self.layer_index = event.value
            self._redraw()

    @on(Select.Changed, "#attn-head")
    def _head_picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, int):
            self.head_index = event.value
            self._redraw()

    @on(HeadGrid.HeadPicked)
    def _grid_picked(self, event: HeadGrid.HeadPicked) -> None:
        self.query_one("#attn-head", Select).value = event.head

    @on(AttentionHeatmap.QueryChanged)
    def _query_clicked(self) -> None:
        self._show_bars()

    def action_query(self, delta: int) -> None:
        self.query_one(AttentionHeatmap).move_query(delta)
        self._show_bars()
        self._follow_query()

    def action_head(self, delta: int) -> None:
        if self.amap is not None:
            n_head = self.amap.shape[1]
            self.query_one("#attn-head", Select).value = (self.head_index + delta) % n_head

    def action_layer(self, delta: int) -> None:
        if self.amap is not None:
            n_layer = self.amap.shape[0]
            self.query_one("#attn-layer", Select).value = (self.layer_index + delta) % n_layer

    def action_scrub(self, delta: int) -> None:
        if self.clock is not None and self.at_step is not None:
            self.clock.step_eval(delta)  # the snapshots are the evals': the replay moves
            return
        if not self.snapshots:
            self.notify("No stored snapshots yet: the engine keeps one per eval.", timeout=2)
            return
        last = len(self.snapshots) - 1
        index = last + 1 if self.snapshot_index is None else self.snapshot_index
        index = max(0, min(last + 1, index + delta))
        self.snapshot_index = None if index > last else index
        if self.snapshot_index is None:
            self._show_input(self.probe)
            self.fetch()
        else:
            if self.engine_probe:
                self._show_input(self.engine_probe)
            self.fetch(step=self.snapshots[self.snapshot_index])

    def action_toggle_auto(self) -> None:
        switch = self.query_one("#attn-auto", Switch)
        switch.value = not switch.value

    def action_refresh_map(self) -> None:
        if self.at_step is not None:
            self.fetch_replayed(force=True)
            return
        if self.snapshot_index is not None:
            self.snapshot_index = None
            self._show_input(self.probe)
        self.fetch()
