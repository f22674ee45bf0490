"""The Inside view: one forward pass of the live model on a text, stage by stage, at one position.

The engine traces the current weights between training steps (client.trace, one request); the
view asks in a thread (View.ask), so the UI never waits on it, and only while the view is on screen:
when entered, on r, when the position or text changes, and after each eval. Everything shown
comes from the reply (a ForwardTrace), so the screen is always one consistent pass. While the
run is replayed (View.at_step), the trace is of the weights kept nearest before the replayed step
(client.trace(..., at_step=...)), asked again only when that kept step changes, and the info line
says which step's weights they are.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Input, Static

from engine import (
    EvalCompleted,
    Event,
    ForwardTrace,
    ModelPart,
    RunClient,
    SampleConfig,
    SampleGenerated,
    StepCompleted,
    TrainingStarted,
    visible,
)
from tui.format import cell_label, learn_link
from tui.messages import LearnAsked
from tui.screens.help import ViewHelp
from tui.views.attention import (
    REPLAY,
    AttentionView,
    cut_note,
    probe_from_sample,
    unknown_note,
)
from tui.views.view import View
from tui.widgets.inside.stage_detail import STAGE_TERMS, StageDetail
from tui.widgets.inside.stage_list import StageList, count
from tui.widgets.inside.token_row import TokenRow
from tui.widgets.safe_text import SafeInput, SafeStatic

# Short names for the header's parameter count per part; blocks are summed over.
PART_NAMES = {
    "token embedding (shared with the output head)": "token embedding",
    "position embedding": "position",
    "attention": "attention",
    "MLP": "MLP",
    "norms": "norms",
    "final norm": "norms",
}
ATTENTION_KINDS = {
    "query", "key", "value", "scores", "causal_mask", "softmax", "weighted_values",
    "attention_projection",
}  # fmt: skip


def part_totals(parts: tuple[ModelPart, ...]) -> dict[str, int]:
    """Parameters per kind of part, each block's summed: {"attention": 8448, ...}, in order."""
    totals: dict[str, int] = {}
    for part in parts:
        name = part.name.split(" ", 2)[2] if part.name.startswith("block ") else part.name
        name = PART_NAMES.get(name, name)
        totals[name] = totals.get(name, 0) + part.params
    return totals


class InsideView(View):
    """Owns the current ForwardTrace, the text traced and the position asked for."""

    HELP = ViewHelp(
        "Inside",
        """\
One **forward pass** of the model as it is now, on the text in the box, seen at one position:
from the token ids, through the embeddings and every block (LayerNorm, attention, MLP, residual
adds), to the logits and the likeliest next tokens. Each line gives the stage's **shape** with the
run's real numbers (T tokens × C channels, or heads × T × head size), the **parameters** it uses,
the selected position's **vector** as a colour strip (in the default theme blue positive, orange
negative, on a √ scale relative to the largest value) and its **norm** (its length).

Keys: `↑`/`↓` pick a stage · `←`/`→` pick a position · **enter** opens the stage's Learn entry ·
`a` opens the Attention view at the stage's layer · `r` traces again with the current weights ·
`/` types another text (enter traces it, escape leaves the box). The trace refreshes after each
eval while the view is open. Under the pipeline: each head's role on this text for the attention
stages, the nearest tokens (cosine) at the token embedding, the next-token guesses at the end.

While the run is **replayed** (`p` on the Train view), the pass is of the weights kept nearest
before the replayed step (a few evals' weights are kept): the info line says which step's.
`<`/`>` move the replay by eval (`←`/`→` pick positions here).""",
        list(dict.fromkeys([*STAGE_TERMS.values(), "Parameters", "Vector norm",
                            "Cosine similarity", "Head roles", "Square-root colour scale",
                            REPLAY])),
    )  # fmt: skip

    INPUT = "#inside-input"
    BINDINGS = [
        Binding("left", "position(-1)", "Position ←", show=False),
        Binding("right", "position(1)", "Position →", show=False),
        Binding("a", "attention", "Attention"),  # enter (Learn) is shown in the detail
        Binding("r", "refresh_trace", "Refresh", show=False),
    ]

    @classmethod
    def build(cls, sample: SampleConfig | None, **kwargs) -> View:
        return cls(probe=sample.probe if sample else "", **kwargs)

    def __init__(self, probe: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.trace: ForwardTrace | None = None
        self.text = probe
        self.text_edited = False
        self.position = -1  # asked for; -1: the last token, whose output is the next guess
        self.step = 0
        self.error: str | None = None
        self.empty = False  # the text submitted last was empty: nothing was traced
        self.kept: list[int] | None = None  # the steps whose weights are kept, once asked

    def compose(self) -> ComposeResult:
        yield SafeInput(
            self.text,
            placeholder="text to trace (/ to type, enter to trace)",
            id="inside-input",
            compact=True,
        )
        yield SafeStatic(id="inside-info")
        yield SafeStatic(id="inside-parts")
        yield TokenRow(id="inside-tokens")
        with Vertical(id="inside-body"):
            yield StageList(id="inside-stages")
            yield StageDetail(id="inside-detail")

    def on_mount(self) -> None:
        self._render_info()

    def focus_main(self) -> None:
        self.query_one(StageList).focus()

    def set_client(self, client: RunClient) -> None:
        super().set_client(client)
        if self.showing:
            self.fetch()

    def ingest(self, events: list[Event]) -> None:
        refresh = False
        for event in events:
            if isinstance(event, StepCompleted):
                self.step = event.step
            elif isinstance(event, TrainingStarted) and event.probe and not self.text_edited:
                self.text = event.probe
                self._show_input()
                refresh = True
            elif isinstance(event, EvalCompleted):
                refresh = True
            elif isinstance(event, SampleGenerated) and not self.text and not self.text_edited:
                self.text = probe_from_sample(event.text)
                self._show_input()
                refresh = True
        if refresh and self.showing and self.at_step is None:
            self.fetch()

    def entered(self) -> None:
        """The view was switched to: a trace older than the run's step (or not of the kept
        weights the replayed step needs) is made anew."""
        if self.trace is None or self.trace.step != self._wanted_step():
            self.fetch()
        else:
            self._render_info()

    def replay_moved(self) -> None:
        if self.showing:
            self.entered()

    def _wanted_step(self) -> int | None:
        """The step whose weights the trace should be of: the run's now, or while replaying the
        latest kept at or before the replayed step (None: not known before asking)."""
        step = self.at_step
        if step is None:
            return self.step
        if self.kept is None:
            return None
        before = [k for k in self.kept if k <= step]
        return before[-1] if before else (self.kept[0] if self.kept else self.step)

    def _show_input(self) -> None:
        self.query_one("#inside-input", Input).value = self.text

    def fetch(self) -> None:
        """Ask for a trace of the text at the position asked for."""
        if not self.text:
            return
        text, position, at_step = self.text, self.position, self.at_step
        if at_step is None:
            self.ask(
                lambda client: client.trace(text, position),
                self._show_trace,
                self._trace_failed,
                group="inside",
            )
            return

        def replayed(client: RunClient) -> tuple[ForwardTrace, list[int]]:
            return client.trace(text, position, at_step=at_step), client.kept_steps()

        self.ask(replayed, self._show_replayed, self._trace_failed, group="inside")

    def _show_replayed(self, reply: tuple[ForwardTrace, list[int]]) -> None:
        trace, self.kept = reply
        self._show_trace(trace)

    def _show_trace(self, trace: ForwardTrace) -> None:
        self.trace = trace
        self.error, self.empty = None, False
        self.position = trace.position
        stages = self.query_one(StageList)
        stages.show(trace)
        self.query_one(StageDetail).show(trace, stages.index)
        self.query_one(TokenRow).show(trace.tokens, trace.position)
        self._render_info()
        self._render_parts()

    def _trace_failed(self, reason: str) -> None:  # a dead engine, or a bad position
        self.error = reason
        self._render_info()

    def _render_info(self) -> None:
        info = self.query_one("#inside-info", Static)
        trace = self.trace
        if self.error is not None:
            info.update(
                Content.assemble(("trace unavailable:", "$error"), " ", visible(self.error))
            )
            return
        if self.empty:
            info.update(
                "[$warning]Nothing to trace: the box is empty.[/] Type a text (/), then enter."
            )
            return
        if trace is None:
            info.update("Press / and type a text, then enter, to follow it through the model.")
            return
        p = trace.position
        parts: list[Content | str] = []
        if trace.tokens == ("\n",) and "\n" not in self.text:
            # The engine starts an empty token list at a line break, as generation does.
            link = learn_link("no tokens in this text", "Tokenizer", "$warning underline")
            parts += [link, Content.styled(": traced a line break (⏎) instead · ", "$warning")]
        replayed = self.at_step
        if replayed is not None:  # say plainly whose weights these are
            parts += [
                learn_link("kept weights", REPLAY, "bold underline"),
                f" of step {trace.step:,}",
            ]
            if trace.step < replayed:
                parts.append(f" (nearest before {replayed:,})")
            elif trace.step > replayed:
                parts.append(f" (none kept by {replayed:,})")
            parts.append(f" · position {p + 1}/{len(trace.tokens)}: ")
        else:
            parts.append(f"step {trace.step:,} · position {p + 1}/{len(trace.tokens)}: ")
        parts.append(cell_label(trace.tokens[p]))
        if trace.truncated:  # before the unknown words: a long list must not hide it
            parts += [" · ", cut_note(len(trace.tokens))]
        room = info.size.width or 200
        if trace.unknown:
            left = room - Content.assemble(*parts).cell_length - 3
            if note := unknown_note(list(trace.unknown), left):
                parts += [" · ", note]
        keys = " · ←/→ position · ↑/↓ stage"
        if Content.assemble(*parts).cell_length + len(keys) <= room:  # the keys only if whole
            parts.append(keys)
        info.update(Content.assemble(*parts))

    def _render_parts(self) -> None:
        trace = self.trace
        if trace is None:
            return
        parts = self.query_one("#inside-parts", Static)
        head = f"{count(trace.n_params)} parameters"
        items = [f"{name} {count(n)}" for name, n in part_totals(trace.parts).items()]
        # Wrapped by hand between items: a line never parts a name from its count.
        room = max(20, (parts.size.width or self.size.width) - 2)  # its padding: 0 1
        lines, line = [], f"{head}: "
        for i, item in enumerate(items):
            piece = item if i == 0 else " · " + item
            if len(line) + len(piece) + 2 > room and i:  # room for the " ·" that ends a line
                lines.append(line + " ·")
                line, piece = "  ", item
            line += piece
        text = "\n".join([*lines, line])
        link = learn_link(head, "Parameters")
        parts.update(Content.assemble(link, text[len(head) :]))

    def on_resize(self) -> None:
        self._render_info()
        self._render_parts()

    @on(StageList.Moved)
    def _stage_moved(self, message: StageList.Moved) -> None:
        self.query_one(StageDetail).show(self.trace, message.index)

    @on(StageList.LearnAsked)
    def _learn_stage(self, message: StageList.LearnAsked) -> None:
        self.post_message(LearnAsked(STAGE_TERMS.get(message.stage.kind, "Transformer")))

    @on(TokenRow.Picked)
    def _token_picked(self, message: TokenRow.Picked) -> None:
        self.position = message.position
        self.fetch()

    @on(Input.Submitted, "#inside-input")
    def _text_submitted(self, event: Input.Submitted) -> None:
        self.empty = not event.value
        if self.empty:  # said on the info line; the last trace stays below it
            self._render_info()
            return
        self.text = event.value  # the box holds the text itself (tui/widgets/safe_text.py)
        self.text_edited = True
        self.position = -1
        self.fetch()
        self.focus_main()

    def action_position(self, delta: int) -> None:
        if self.trace is None:
            return
        last = len(self.trace.tokens) - 1
        position = max(0, min(last, self.position % (last + 1) + delta))
        if position != self.position:
            self.position = position
            self.fetch()

    def action_refresh_trace(self) -> None:
        self.fetch()

    def action_attention(self) -> None:
        """Open the Attention view, at this stage's layer when it is an attention stage."""
        stage = self.query_one(StageList).stage
        self.app.action_view("attention")
        attention = self.app.query_one(AttentionView)
        if stage is not None and stage.kind in ATTENTION_KINDS and attention.amap is not None:
            attention.action_layer(stage.layer - attention.layer_index)
