"""StageList: the forward pass as a vertical pipeline, one line per stage, with a cursor.

Each line: the stage's name, its shape (the run's real numbers, e.g. 6×32), the parameters it
uses, the selected position's vector as a colour strip, and that vector's norm. Blocks get a rule
of their own, so the names stay short. Only the lines that fit are drawn, around the cursor: a
deep model has about a hundred stages, and the widget scrolls itself without a container.
"""

from __future__ import annotations

import math

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from engine import ForwardTrace, TraceStage
from tui.format import fit
from tui.messages import LearnAsked
from tui.widgets.drawing import theme_color
from tui.widgets.inside.vector_strip import StripColours, strip_segments
from tui.widgets.kept_lines import KeptLines

NAME_W, SHAPE_W, PARAMS_W, NORM_W = 18, 10, 7, 7
SELECTED = Style(reverse=True, bold=True)
FIXED_W = 2 + NAME_W + 1 + SHAPE_W + 1 + PARAMS_W + 2 + 1 + NORM_W
# Clickable column titles: (first x, last x, glossary heading), measured on the title line.
TITLE_LINKS = (
    (2 + NAME_W + 1 + SHAPE_W + 1, 2 + NAME_W + 1 + SHAPE_W + 1 + PARAMS_W, "Parameters"),
    (FIXED_W - NORM_W, FIXED_W + 40, "Vector norm"),
)


def count(n: int) -> str:
    """A parameter count in at most 6 cells: 4,224 · 98.3k · 38.6M."""
    if n < 100_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k" if n < 999_950 else "1.0M"
    return f"{n / 1_000_000:.1f}M"


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)


def short_name(stage: TraceStage) -> str:
    """The name without its block, which the block's rule already says."""
    if stage.layer is not None and " · " in stage.name:
        return stage.name.split(" · ", 1)[1]
    return stage.name


def stage_norm(stage: TraceStage) -> float:
    """One norm for the whole line: of all heads' vectors together."""
    return math.sqrt(sum(n * n for n in stage.norms if math.isfinite(n)))


def norm_text(value: float) -> str:
    return f"{value:.2f}" if value < 1000 else f"{value:.3g}"


class StageList(KeptLines, Widget):
    """The trace's stages; `index` is the selected one."""

    can_focus = True
    BINDINGS = [
        Binding("up", "move(-1)", "Stage ↑", show=False),
        Binding("down", "move(1)", "Stage ↓", show=False),
        Binding("pageup", "move(-10)", "Stages ↑", show=False),
        Binding("pagedown", "move(10)", "Stages ↓", show=False),
        Binding("home", "move(-10000)", "First stage", show=False),
        Binding("end", "move(10000)", "Last stage", show=False),
        Binding("enter", "learn", "Learn", show=False),  # StageDetail shows "⏎ <entry>"
    ]

    class Moved(Message):
        """The selected stage changed."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class LearnAsked(Message):
        """The user asked for the selected stage's Learn entry (enter)."""

        def __init__(self, stage: TraceStage) -> None:
            super().__init__()
            self.stage = stage

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.trace: ForwardTrace | None = None
        self.index = 0
        self.version = 0
        self._rows: list[int] = []  # per line below the titles: a stage index, or -1 - layer
        # for the rule that opens a block
        self._top = 0  # first row drawn
        self._strips: dict[tuple[int, int], list[Segment]] = {}  # (stage, width): its strip
        self._colours: tuple[dict, StripColours] | None = None

    @property
    def stage(self) -> TraceStage | None:
        if self.trace is None or not self.trace.stages:
            return None
        return self.trace.stages[self.index]

    def show(self, trace: ForwardTrace) -> None:
        self.trace = trace
        self.index = min(self.index, len(trace.stages) - 1)
        rows: list[int] = []
        layer = None
        for i, stage in enumerate(trace.stages):
            if stage.layer is not None and stage.layer != layer:
                rows.append(-1 - stage.layer)
            layer = stage.layer
            rows.append(i)
        self._rows = rows
        self._strips = {}
        self.version += 1
        self.refresh()

    def render_key(self):
        self._window(max(1, self.size.height - 1))  # the first line is the column titles
        return (self.version, self.index, self._top)

    def action_move(self, delta: int) -> None:
        if self.trace is None:
            return
        index = max(0, min(len(self.trace.stages) - 1, self.index + delta))
        if index != self.index:
            self.index = index
            self.refresh()
            self.post_message(self.Moved(index))

    def select(self, index: int) -> None:
        self.action_move(index - self.index)

    def action_learn(self) -> None:
        if self.stage is not None:
            self.post_message(self.LearnAsked(self.stage))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_move(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_move(-3)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            for start, end, heading in TITLE_LINKS:
                if start <= event.x < end:
                    self.post_message(LearnAsked(heading))
            return
        row = self._top + event.y - 1
        if 0 <= row < len(self._rows) and self._rows[row] >= 0:
            self.select(self._rows[row])

    def _window(self, height: int) -> None:
        """Move the first drawn row so that the cursor (and its block's rule) stays in view."""
        if not self._rows:
            return
        row = self._rows.index(self.index)
        if row > 0 and self._rows[row - 1] < 0:
            row -= 1  # show the block's rule with its first stage
        top = max(min(self._top, row), self._rows.index(self.index) - height + 1)
        self._top = max(0, min(top, max(0, len(self._rows) - height)))

    def kept_render(self) -> list[list[Segment]]:
        # Segments, not a Text: a Text goes through Content and a style per span on every
        # render, which was most of a trace's time on screen (about 3,000 strip cells at 120×40).
        trace = self.trace
        if trace is None:
            return [[Segment("No trace yet: it comes from the engine once the run has a text.")]]
        variables = self.app.theme_variables
        if self._colours is None or self._colours[0] != variables:
            self._colours = (variables, StripColours(variables))
        colours = self._colours[1]
        muted = Style(color=theme_color(variables, "foreground-muted"))
        accent = Style(color=theme_color(variables, "accent"), bold=True)
        width = self.size.width
        strip_w = max(4, width - FIXED_W)
        link = muted + Style(underline=True)
        # A deep model's stages do not all fit: then the title says which one of how many this
        # is, and the keys that move through them.
        name = "stage"
        if len(self._rows) > max(1, self.size.height - 1):
            name = f"stage {self.index + 1} of {len(trace.stages)} · ↑/↓"
        title = f"  {fit(name, NAME_W + SHAPE_W - 5)} shape "
        lines = [[
            Segment(title, muted), Segment(fit("params", PARAMS_W, "right"), link),
            Segment(f"  {fit(f'vector at position {trace.position + 1}', strip_w)} ", muted),
            Segment(fit("norm", NORM_W, "right"), link),
        ]]  # fmt: skip
        for row in self._rows[self._top : self._top + max(1, self.size.height - 1)]:
            if row < 0:
                rule = f"── block {-1 - row} "
                lines.append([Segment(rule + "─" * max(0, width - len(rule)), muted)])
            else:
                lines.append(self._line(row, strip_w, colours, accent, muted))
        return lines

    def lines_from(self, rendered, width: int, height: int, style) -> list[Strip]:
        # The widget's own style under every segment, added once per distinct style (a strip
        # uses a few dozen), not once per segment as Strip.apply_style would.
        base = style.rich_style
        over: dict[int, Style] = {}  # by id: Style.__eq__ costs more than the addition
        strips = []
        for line in rendered[:height]:
            segments = []
            for segment in line:
                combined = over.get(id(segment.style))
                if combined is None:
                    combined = over[id(segment.style)] = base + segment.style
                segments.append(Segment(segment.text, combined))
            strip = Strip(segments)
            if strip.cell_length != width:
                strip = strip.crop_extend(0, width, base)
            strips.append(strip)
        return strips + [Strip.blank(width, base)] * (height - len(strips))

    def _line(self, row: int, strip_w: int, colours, accent, muted) -> list[Segment]:
        stage = self.trace.stages[row]
        selected = row == self.index
        params = count(stage.params) if stage.params else "·"
        line = [
            Segment("▶ " if selected else "  ", accent),
            Segment(fit(short_name(stage), NAME_W), SELECTED if selected else None),
            Segment(f" {fit(shape_text(stage.shape), SHAPE_W, 'right')} ", muted),
            Segment(fit(params, PARAMS_W, "right"), None if stage.params else muted),
            Segment("  "),
        ]
        if stage.kind == "tokens":  # an id is a name, not an amount: no strip
            token_id = self.trace.token_ids[self.trace.position]
            return line + [Segment(fit(f"id {token_id}", strip_w), muted)]
        key = (row, strip_w)
        if key not in self._strips:  # the cursor moves often; the strips change with the trace
            self._strips[key] = strip_segments(stage.vectors, strip_w, colours)
        norm = f" {fit(norm_text(stage_norm(stage)), NORM_W, 'right')}"
        return line + self._strips[key] + [Segment(norm)]
