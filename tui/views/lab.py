"""The Lab view: experiments on the live model, and the prediction game.

Experiments (e): knock a part out (a head, a block's attention or its MLP; zero or mean
ablation) and compare the model with and without it on val, on a text, and at one position of
that text; and the head importance table. The prediction game (t): guess the next token of a
validation passage, scored beside the model's own guess.

Every answer comes from the engine (View.ask), on the weights as they are between two steps;
an ablation never changes them. Pausing (space) keeps them still while experimenting.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from engine import (
    Ablation,
    AblationMethod,
    AblationPart,
    AblationResult,
    EvalCompleted,
    Event,
    GamePassage,
    GuessResult,
    ImportanceTable,
    RunClient,
    SampleConfig,
    StepCompleted,
    TrainingStarted,
    visible,
)
from tui.format import learn_link, spaced
from tui.screens.help import ViewHelp
from tui.views.view import View
from tui.widgets.inside.token_row import TokenRow
from tui.widgets.lab.ablation_result import AblationView
from tui.widgets.lab.game_panel import GamePanel
from tui.widgets.lab.importance_table import ImportanceView
from tui.widgets.safe_text import SafeInput, SafeStatic

PANES = ("experiments", "game")


def parts(n_layer: int, n_head: int) -> list[Ablation]:
    """Every part that can be knocked out, block by block: its attention, each head, its MLP."""
    found = []
    for layer in range(n_layer):
        found.append(Ablation(AblationPart.ATTENTION, layer))
        found += [Ablation(AblationPart.HEAD, layer, head) for head in range(n_head)]
        found.append(Ablation(AblationPart.MLP, layer))
    return found


def part_label(part: Ablation) -> str:
    """ "L0 attention", "· L0H1" (a head of it), "L0 MLP": short, for the list's narrow column."""
    if part.part is AblationPart.HEAD:
        return f"· L{part.layer}H{part.head}"
    return f"L{part.layer} " + ("attention" if part.part is AblationPart.ATTENTION else "MLP")


class LabView(View):
    HELP = ViewHelp(
        "Lab",
        """\
Experiments on the live model: they never change its weights. Pause (`space`) to hold them
still; while training runs, each answer is from the weights of its moment (the step is shown).
A replay (`p`) does not reach here: the Lab always works on the latest weights.

**Experiments** (`e`): pick a part on the left (`↑`/`↓`): a block's whole attention, one
head, or its MLP. The model runs with and without it (**ablation**): the val loss (and a task's
accuracy) and the loss on the text above, each with the change, and at the selected position of
the text (`←`/`→`) the likeliest next tokens with and without the part. `m` switches between
**zero ablation** (the part outputs nothing) and **mean ablation** (its average output, whatever
the text). `i` ranks every head by the val loss its ablation alone costs (**head importance**),
at the current weights. `/` types another text.

**Prediction game** (`t`): a validation passage is shown up to a hidden token; type your guess
of it (a word, a character or a number, as the run's tokens go) and press enter. You see the
probability the model gave your guess, its own top choice, and the score: yours against the
model's on the same tokens.""",
        [
            "Ablation",
            "Head importance",
            "Prediction game",
            "Multi-head attention",
            "Feed-forward network",
            "Train and validation loss",
            "Accuracy",
            "Induction head",
            "Token",
        ],
    )

    BINDINGS = [
        Binding("e", "pane('experiments')", "Experiments"),
        Binding("t", "pane('game')", "Game"),
        Binding("m", "method", "Zero/mean"),
        Binding("i", "importance", "Importance"),
        Binding("left", "position(-1)", "Position ←", show=False),
        Binding("right", "position(1)", "Position →", show=False),
    ]

    @classmethod
    def build(cls, sample: SampleConfig | None, **kwargs) -> View:
        return cls(probe=sample.probe if sample else "", **kwargs)

    def __init__(self, probe: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.pane = "experiments"
        self.text = probe
        self.position = -2  # the selected text position (negative: from the end)
        self.method = AblationMethod.ZERO
        self.parts: list[Ablation] = []
        self.part: Ablation | None = None
        self.step = 0
        self.block_size = 1
        self.stale = True  # the shown results are from older weights than the view has seen
        self.importance_asked = False

    @property
    def INPUT(self) -> str:  # type: ignore[override]
        return "#lab-input" if self.pane == "experiments" else "#game-input"

    def compose(self) -> ComposeResult:
        yield SafeStatic(id="lab-panes")
        with Vertical(id="lab-experiments"):
            yield SafeInput(
                visible(self.text, keep_newlines=False),
                placeholder="a text to measure on (/ to type, enter to run)",
                id="lab-input",
                compact=True,
            )
            yield TokenRow(id="lab-tokens")
            with Horizontal(id="lab-body"):
                yield OptionList(id="lab-parts")
                with Vertical(id="lab-right"):
                    yield AblationView("pick a part to knock out (↑/↓)", id="lab-result")
                    yield ImportanceView("i: rank the heads", id="lab-importance")
        with Vertical(id="lab-game"):
            yield SafeInput(
                placeholder="your guess of the next token (enter)", id="game-input", compact=True
            )
            yield GamePanel(id="game-panel")

    def on_mount(self) -> None:
        self.query_one(GamePanel).can_focus = True
        self._show_pane()

    def focus_main(self) -> None:
        if self.pane == "experiments":
            self.query_one("#lab-parts", OptionList).focus()
        else:
            self.query_one(GamePanel).focus()

    def _show_pane(self) -> None:
        self.query_one("#lab-experiments").display = self.pane == "experiments"
        self.query_one("#lab-game").display = self.pane == "game"
        labels = []
        for key, pane, name in (
            ("e", "experiments", "experiments"),
            ("t", "game", "prediction game"),
        ):
            style = "bold reverse $primary" if pane == self.pane else "$foreground-muted"
            labels.append(Content.assemble((f" {key} ", "bold $accent"), (f" {name} ", style)))
        method = learn_link(f"{self.method} ablation", "Ablation")
        status = spaced(("  ·  ", "$foreground"), method) if self.pane == "experiments" else ""
        weights = f"  ·  weights of step {self.step:,}"
        if self.at_step is not None:
            weights += " (live, not replayed)"
        status = Content.assemble(status, (weights, "$foreground"))
        self.query_one("#lab-panes", SafeStatic).update(Content(" ").join(labels) + status)
        self.refresh_bindings()

    def replay_moved(self) -> None:
        self._show_pane()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("method", "importance", "position"):
            return self.pane == "experiments" and not self.typing
        if action == "pane":
            return not self.typing and parameters[0] != self.pane
        return super().check_action(action, parameters)

    def action_pane(self, pane: str) -> None:
        self.pane = pane
        self._show_pane()
        self.focus_main()
        self.entered()

    # --- events --------------------------------------------------------------------------

    def ingest(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, TrainingStarted):
                self.step, self.block_size = event.start_step, event.block_size
                if (event.n_layer, event.n_head) != self._shape():
                    self._set_parts(parts(event.n_layer, event.n_head))
                if event.probe and not self.text:
                    self.text = event.probe
                    self.query_one("#lab-input", SafeInput).value = visible(
                        event.probe, keep_newlines=False
                    )
            elif isinstance(event, StepCompleted):
                self.step = event.step
            elif isinstance(event, EvalCompleted):
                self.stale = True
        if self.stale and self.showing and self.client is not None:
            self._show_pane()

    def _shape(self) -> tuple[int, int]:
        layers = {part.layer for part in self.parts}
        heads = {part.head for part in self.parts if part.head is not None}
        return len(layers), len(heads)

    def _set_parts(self, found: list[Ablation]) -> None:
        self.parts = found
        options = self.query_one("#lab-parts", OptionList)
        options.clear_options()
        options.add_options([Option(part_label(part)) for part in found])
        if found:
            options.highlighted = 0
            self.part = found[0]

    def set_client(self, client: RunClient) -> None:
        super().set_client(client)
        if self.showing:
            self.entered()

    def entered(self) -> None:
        self._show_pane()
        if self.client is None:
            return
        if self.pane == "experiments":
            self.run_ablation()
            if not self.importance_asked:
                self.action_importance()
        elif self.query_one(GamePanel).game.passage is None:
            self.next_passage()

    # --- experiments -----------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#lab-parts")
    def _part_picked(self, event: OptionList.OptionHighlighted) -> None:
        if 0 <= event.option_index < len(self.parts):
            self.part = self.parts[event.option_index]
            self.run_ablation()

    @on(Input.Submitted, "#lab-input")
    def _text_submitted(self, event: Input.Submitted) -> None:
        self.text = event.value
        self.position = -2
        self.run_ablation()
        self.focus_main()

    def action_method(self) -> None:
        methods = list(AblationMethod)
        self.method = methods[(methods.index(self.method) + 1) % len(methods)]
        self._show_pane()
        self.run_ablation()
        if self.importance_asked:
            self.action_importance()

    def action_position(self, step: int) -> None:
        result = self.query_one(AblationView).result
        # The model reads block_size tokens of the text; one more is only the last one's target.
        count = min(len(result.tokens), self.block_size) if result else 0
        if not count:
            return
        self.position = max(0, min(count - 1, (self.position % count) + step))
        self.run_ablation()

    def run_ablation(self) -> None:
        """Ask for the selected part's ablation (only on screen: off it, entering asks)."""
        part = self.part
        if part is None or self.client is None or not self.showing:
            return
        part = Ablation(part.part, part.layer, part.head, self.method)
        text, position = self.text, self.position
        shown = self.query_one(AblationView)
        if self.ask(
            lambda client: client.ablate(part, text, position),
            self._ablated,
            lambda error: shown.show_text(f"could not ablate: {error}"),
            group="ablate",
        ):
            self.stale = False

    def _ablated(self, result: AblationResult) -> None:
        self.query_one(AblationView).show(result)
        self.query_one(TokenRow).show(result.tokens, result.position)
        self.position = result.position
        self.step = result.step
        self._show_pane()

    def action_importance(self) -> None:
        method = self.method
        table = self.query_one(ImportanceView)
        if self.ask(
            lambda client: client.head_importance(method),
            self._ranked,
            lambda error: table.show_text(f"could not rank the heads: {error}"),
            group="importance",
        ):
            self.importance_asked = True
            table.show_text("ablating each head in turn…")

    def _ranked(self, table: ImportanceTable) -> None:
        self.query_one(ImportanceView).show(table)

    @on(TokenRow.Picked)
    def _token_picked(self, event: TokenRow.Picked) -> None:
        self.position = event.position
        self.run_ablation()

    # --- the prediction game ---------------------------------------------------------------

    def next_passage(self) -> None:
        panel = self.query_one(GamePanel)
        number = panel.game.next_number
        self.ask(
            lambda client: client.game_passage(number),
            self._passage,
            lambda error: panel.show(f"could not get a passage: {error}"),
            group="game",
        )

    def _passage(self, passage: GamePassage) -> None:
        panel = self.query_one(GamePanel)
        panel.game.start(passage)
        panel.show()

    @on(Input.Submitted, "#game-input")
    def _guessed(self, event: Input.Submitted) -> None:
        panel = self.query_one(GamePanel)
        game = panel.game
        if game.done or game.passage is None:
            self.next_passage()
            return
        position = game.position
        if game.waiting or position is None or not event.value:
            return
        number, guess = game.passage.number, event.value
        event.input.value = ""
        game.waiting = True
        panel.show()
        self.ask(
            lambda client: client.guess(number, position, guess),
            self._scored,
            self._guess_failed,
            group="guess",
        )

    def _scored(self, result: GuessResult) -> None:
        panel = self.query_one(GamePanel)
        panel.game.record(result)
        self.step = result.step
        panel.show()

    def _guess_failed(self, error: str) -> None:
        panel = self.query_one(GamePanel)
        panel.game.waiting = False
        panel.show(f"could not score the guess: {error}")
