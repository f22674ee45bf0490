"""The Generate view: a prompt, sampling settings, streamed output, and for the picked token its
candidates and its sampling pipeline (redrawn from its logits whenever temp, top-k or top-p change).

Generation runs in a thread worker and streams one message per token; it works whether the run is
training, paused or finished, because the engine serves requests between steps. The prompt takes
the keyboard only on enter, / or a click (see View), and gives it back once it is submitted.
While the run is replayed (View.at_step), generation asks the weights kept nearest before the
replayed step, and the status line says which step's weights wrote the text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Static
from textual.worker import get_current_worker

from engine import (
    ConfigError,
    Event,
    GeneratedToken,
    RunClient,
    SampleConfig,
    SampleGenerated,
    visible,
)
from tui.format import learn_link, one_line, unknown_words
from tui.screens.help import ViewHelp
from tui.views.view import View
from tui.widgets.generate.candidate_bars import CandidateBars, caption
from tui.widgets.generate.generation_output import GenerationOutput
from tui.widgets.generate.pipeline_table import PipelineTable
from tui.widgets.safe_text import SafeInput, SafeLabel, SafeStatic

SAMPLING = "Temperature, top-k and top-p"
# (field, label, input type, what the field's "off" value is): the settings, in the order shown.
# The first three shape the sampling pipeline and sit on a row of their own; max and seed only
# say how much to generate and which draw, so they share the prompt's row.
SETTINGS = [
    ("temperature", "temp", "number", "0 = greedy"),
    ("top_k", "top-k", "integer", "0 = off"),
    ("top_p", "top-p", "number", "1.0 = off"),
    ("max_new_tokens", "max", "integer", ""),
    ("seed", "seed", "integer", ""),
]
PIPELINE_FIELDS = {f"gen-{name}" for name, *_ in SETTINGS[:3]}
# The keys that reach the fields (tab alone takes five presses to reach temp).
KEYS = "/ types a prompt, enter generates · t: temp, then tab: top-k, top-p"
REPLAY = "Replay and kept weights"


class GenerateView(View):
    """Builds a SampleConfig from the inputs and streams the client's Generation into the output."""

    HELP = ViewHelp(
        "Generate",
        """\
Press `/` (or enter) to type a prompt, then **enter**: the model continues it one token at a
time (the prompt is tinted, the model's text bold). `←`/`→` on the output pick a step. `t` types
in the temperature field, `tab` moves on to top-k and top-p, escape gives the keyboard back.

**Candidates** are the likeliest next tokens at that step, from the distribution the token was
drawn from (◀): after the settings, except at temp 0, which takes the top of the raw one.

The **sampling pipeline** shows that step's distribution at each stage: **raw** (softmax of the
logits), after **temp** (logits ÷ T; 0 is greedy), after **top-k** (the k likeliest; 0 is off),
after **top-p** (the smallest set whose probability reaches p, renormalised; 1.0 is off). A dashed
rule marks where a stage cuts, a dot what it dropped. Change temp, top-k or top-p and the table is
redrawn from the same logits at once, without generating again. **kept** counts the tokens still
possible; **others** is the probability of every token without a row (≈: estimated from the top 64
logits). Words the vocabulary lacks are flagged in red. Click an underlined word to learn more.

While the run is **replayed** (`p` on the Train view), enter asks the model as it was: the weights
kept nearest before the replayed step (a few evals' weights are kept), and the status line says
which step's weights wrote the text. With the run's prompt and sample seed, the weights of an eval
write that eval's sample again. `<`/`>` move the replay by eval (`←`/`→` pick tokens here).""",
        [SAMPLING, "Sampling pipeline", "Logits", "Softmax", "Token", "Vocabulary", REPLAY],
    )

    INPUT = "#gen-prompt"
    BINDINGS = [
        Binding("left", "pick(-1)", "Prev token", show=False),
        Binding("right", "pick(1)", "Next token", show=False),
        Binding("ctrl+g", "generate", "Generate"),
        # Shown on the status line, which has the room the footer lacks at 80 columns.
        Binding("t", "settings", "Temp, top-k, top-p", show=False),
    ]

    @dataclass
    class GenerationStarted(Message):
        unknown: list[str]  # the prompt's words the vocabulary lacks
        step: int | None = None  # the training step of the weights that generate

    @dataclass
    class TokenArrived(Message):
        token: GeneratedToken

    @dataclass
    class GenerationEnded(Message):
        error: str | None = None  # the one-line reason it stopped early

    @classmethod
    def build(cls, sample: SampleConfig | None, **kwargs) -> View:
        return cls(sample=sample, **kwargs)

    def __init__(self, sample: SampleConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sample = sample or SampleConfig()
        self.generating = False
        self.drawn_with: SampleConfig | None = None  # the settings of the generation shown
        self.asked_at: int | None = None  # the replayed step the generation shown was asked at
        self.drawn_at: int | None = None  # the step of the weights that wrote it

    def compose(self) -> ComposeResult:
        with Horizontal(id="gen-prompt-row"):
            yield SafeInput(
                self.sample.prompt.strip(),
                placeholder="prompt (/ to type, enter to generate)",
                id="gen-prompt",
                compact=True,
            )
            yield from self._fields(SETTINGS[3:])
            yield Button("Generate", id="gen-go", variant="primary", compact=True)
        with Horizontal(id="gen-settings"):
            yield from self._fields(SETTINGS[:3])
        yield SafeStatic(id="gen-status")
        with Horizontal(id="gen-body"):
            with VerticalScroll(id="gen-scroll"):
                yield GenerationOutput(id="gen-output")
            with Vertical(id="gen-side"):
                yield CandidateBars(id="gen-candidates")
                yield PipelineTable(id="gen-pipeline")

    def _fields(self, settings: list[tuple[str, str, str, str]]) -> ComposeResult:
        for name, label, kind, off in settings:
            sampling = name in ("temperature", "top_k", "top_p")
            yield SafeLabel(
                learn_link(label, SAMPLING) if sampling else label, classes="setting-label"
            )
            yield SafeInput(
                str(getattr(self.sample, name)),
                type=kind,
                id=f"gen-{name}",
                classes="setting",
                compact=True,
            )
            if off:
                yield SafeLabel(off, classes="setting-off")

    def on_mount(self) -> None:
        self.query_one("#gen-status", Static).update(KEYS)
        self.query_one(CandidateBars).border_title = caption(None)
        pipeline = self.query_one(PipelineTable)
        pipeline.border_title = "Sampling pipeline"
        pipeline.set_settings(self.sample)

    def focus_main(self) -> None:
        self.query_one(GenerationOutput).focus()

    def ingest(self, events: list[Event]) -> None:
        """The run's own prompt, from its samples, where the field still holds the one it was
        built with: a task reads only its own tokens (grokking's prompt is "72 3 =", not the
        default "oh"), and an attached run's prompt is not known until its samples come."""
        for event in events:
            if isinstance(event, SampleGenerated) and event.prompt != self.sample.prompt:
                field = self.query_one("#gen-prompt", Input)
                if field.value == self.sample.prompt.strip():  # not typed over
                    field.value = event.prompt.strip()
                self.sample = replace(self.sample, prompt=event.prompt)

    def read_config(self) -> SampleConfig:
        """The settings as a SampleConfig; raises ConfigError naming every bad field."""
        values, problems = {}, []
        for name, _, kind, _ in SETTINGS:
            raw = self.query_one(f"#gen-{name}", Input).value.strip()
            try:
                values[name] = int(raw) if kind == "integer" else float(raw)
            except ValueError:
                problems.append(f"{name} {visible(raw)!r} is not a number")
        if problems:
            raise ConfigError("; ".join(problems))
        return replace(self.sample, **values)

    @on(Input.Submitted)
    @on(Button.Pressed, "#gen-go")
    def action_generate(self) -> None:
        status = self.query_one("#gen-status", Static)
        if self.client is None:
            status.update(
                "[$warning]No engine yet: wait for the run to connect and load its history.[/]"
            )
            return
        try:
            config = self.read_config()
        except ConfigError as error:
            status.update(Content.styled(visible(str(error)), "$error"))
            return
        prompt = self.query_one("#gen-prompt", Input).value
        self.focus_main()  # the keyboard comes back: ←/→ pick tokens, 1-6 switch views
        self.query_one(GenerationOutput).start(prompt)
        self.drawn_with = config
        self._show(None)
        self.asked_at, self.drawn_at = self.at_step, None
        status.update("generating…" if self.at_step is None else self._replay_status())
        self.generating = True
        self._stream(self.client, prompt, config, self.at_step)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _stream(
        self, client: RunClient, prompt: str, config: SampleConfig, at_step: int | None
    ) -> None:
        # A stream, so not View.ask: a message per token, as the engine makes them.
        worker = get_current_worker()
        try:
            generation = client.generate(prompt, config, at_step=at_step)
            unknown = list(getattr(generation, "unknown", []))
            self.post_message(self.GenerationStarted(unknown, getattr(generation, "step", None)))
            for token in generation:
                if worker.is_cancelled:
                    return
                self.post_message(self.TokenArrived(token))
        except Exception as error:  # EngineError, or the connection died mid-stream
            self.post_message(self.GenerationEnded(one_line(error)))
            return
        self.post_message(self.GenerationEnded())

    @on(GenerationStarted)
    def _started(self, message: GenerationStarted) -> None:
        self.query_one(GenerationOutput).flag_unknown(message.unknown)
        self.drawn_at = message.step

    def weights_note(self) -> Content | None:
        """Whose weights wrote the generation shown, when it was asked of a replayed step."""
        asked, drawn = self.asked_at, self.drawn_at
        if asked is None or drawn is None:
            return None
        parts: list[Content | str] = [learn_link(f"step {drawn:,}'s kept weights", REPLAY)]
        if drawn < asked:
            parts.append(f" (the nearest kept before {asked:,})")
        elif drawn > asked:
            parts.append(f" (none kept by {asked:,})")
        return Content.assemble("from ", *parts)

    def _replay_status(self) -> Content:
        step = self.at_step
        return Content.assemble(
            f"replaying step {step:,}: enter generates from the ",
            learn_link("weights kept", REPLAY),
            " at or before it",
        )

    def replay_moved(self) -> None:
        if self.generating:
            return
        status = self.query_one("#gen-status", Static)
        if self.at_step is not None:
            status.update(self._replay_status())
        elif self.asked_at is not None or not self.query_one(GenerationOutput).tokens:
            status.update(KEYS)

    @on(TokenArrived)
    def _token(self, message: TokenArrived) -> None:
        output = self.query_one(GenerationOutput)
        output.add(message.token)
        if output.cursor is None:
            self._show(message.token, len(output.tokens) - 1)
        self.query_one("#gen-scroll", VerticalScroll).scroll_end(animate=False)

    @on(GenerationEnded)
    def _ended(self, message: GenerationEnded) -> None:
        self.generating = False
        output = self.query_one(GenerationOutput)
        status = self.query_one("#gen-status", Static)
        parts: list[Content | str] = []
        if message.error:
            parts.append(Content.styled(visible(message.error), "$error"))
        else:
            parts.append(f"{len(output.tokens)} tokens")
            if note := self.weights_note():  # before the rest: whose weights these are
                parts += [" ", note]
        room = status.size.width or 200
        if output.unknown:  # before the keys: what went wrong with the prompt matters more
            left = room - Content.assemble(*parts).cell_length - 3
            if note := unknown_words(output.unknown, left):
                parts += [" · ", Content.styled(note, "$error")]
        if not message.error:
            for hint in (" · ←/→ pick a step", " · t: temp, top-k, top-p redraw it"):
                if Content.assemble(*parts).cell_length + len(hint) <= room:
                    parts.append(hint)
        status.update(Content.assemble(*parts))

    def action_settings(self) -> None:
        """Give the keyboard to the temperature field (tab goes on to top-k and top-p)."""
        field = self.query_one("#gen-temperature", Input)
        field.focus()
        field.cursor_position = len(field.value)

    def action_pick(self, delta: int) -> None:
        output = self.query_one(GenerationOutput)
        if not output.has_focus:
            return
        output.move(delta)
        if output.selected is not None:
            self._show(output.tokens[output.selected], output.selected)

    def _show(self, token: GeneratedToken | None, index: int = 0) -> None:
        """Show one step's candidates and sampling pipeline (None clears them)."""
        self.query_one(CandidateBars).show(token, index, self.drawn_with)
        self.query_one(PipelineTable).show(token, index, self.drawn_with)

    @on(Input.Changed)
    def _settings_changed(self, event: Input.Changed) -> None:
        """Redraw the pipeline for the new temperature, top-k or top-p: no generating again."""
        if event.input.id not in PIPELINE_FIELDS:
            return
        pipeline = self.query_one(PipelineTable)
        try:
            pipeline.set_settings(self.read_config())
        except ConfigError as error:
            pipeline.set_problem(visible(str(error)))
