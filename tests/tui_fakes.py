"""A deterministic stand-in for engine.EngineClient: canned events, attention and generation.

It satisfies engine.RunClient (tests/test_contract.py checks it against EngineClient). No torch and
no threads of its own. events() yields its canned history and, as the real client does, a
HistoryReplayed where it ends, then (when `live`) the events its requests cause (pause() announces
TrainingPaused, as a worker would) until close() or shutdown().
Each request is recorded as the method served and its arguments: a test asks
`fake.asked(fake.trace)`, so renaming a client method breaks the test, not a string compare;
`fake.asked_at(fake.trace)` lists the at_step of each (None: the model now).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from itertools import cycle
from pathlib import Path

from engine import (
    Ablation,
    AblationMethod,
    AblationResult,
    AttentionMap,
    Candidate,
    CheckpointSaved,
    EmbeddingMap,
    EngineError,
    EvalCompleted,
    Event,
    FinishReason,
    ForwardTrace,
    GamePassage,
    GeneratedToken,
    GuessResult,
    HeadImportance,
    HeadRole,
    HeadScore,
    HeadsScored,
    HeadStats,
    HistoryReplayed,
    ImportanceTable,
    LayerStats,
    LogitLens,
    Neighbour,
    PassageLosses,
    PauseCause,
    PhaseChanged,
    PhaseKind,
    RunConfig,
    RunState,
    RunStatus,
    SampleConfig,
    SampleGenerated,
    StepCompleted,
    TopLogits,
    TraceStage,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
    TrainingStats,
    WeightStats,
    advance,
    sampling_pipeline,
)
from engine.contract.inside import model_parts, stage_layout
from engine.lens.head_roles import MIXED, ROLES
from tests.conftest import PATIENCE_S

VOCAB = ["\n", "oh", "my", "love", "baby", "you", "are", "the", "one", "i", "need", "so", "sweet"]
TOKENS_PER_STEP = 96
PREVIOUS_TOKEN_FROM = 200  # the step from which the fake's first head is a previous-token head


def fake_schedule(points: int = 64) -> tuple[float, ...]:
    """Warmup over the first tenth, then cosine decay from 1e-3 to 1e-4, as the engine sends."""
    warm = points // 10
    return tuple(
        1e-3 * (i + 1) / (warm + 1)
        if i < warm
        else 1e-4 + 0.45e-3 * (1 + math.cos(math.pi * (i - warm) / (points - 1 - warm)))
        for i in range(points)
    )


def make_events(
    steps: int = 300,
    max_steps: int = 600,
    eval_every: int = 100,
    vocab_size: int = 50,
    finished: bool = False,
    n_layer: int = 2,
    n_head: int = 2,
    learning: bool = False,
) -> list:
    """A training history whose loss falls from ln(vocab_size) with a little fixed wiggle; with
    `learning`, also training statistics every 50 steps and head scores at each eval, where head
    0 of the last layer becomes an induction head at INDUCTION_FROM (marked by a PhaseChanged)."""
    events: list = [
        TrainingStarted(
            run_dir="/tmp/fake-run",
            preset="seed",
            device="cpu",
            dtype="float32",
            tokenizer="word",
            vocab_size=vocab_size,
            n_params=12_345,
            n_layer=n_layer,
            n_head=n_head,
            n_embd=32,
            block_size=6,
            batch_size=16,
            start_step=0,
            max_steps=max_steps,
            train_tokens=900,
            val_tokens=100,
            probe="oh my love you are",
            unigram_loss=3.3,
            bigram_loss=2.6,
            lr_schedule=fake_schedule(),
            # With the learning events, what MFU is worked out from: a CPU's measured peak.
            step_flops=25_000_000 if learning else None,
            peak_flops=200e9 if learning else None,
            peak_source="this CPU's measured float32 matmul rate" if learning else "",
        )
    ]
    for step in range(1, steps + 1):
        loss = 1.2 + (math.log(vocab_size) - 1.2) * math.exp(-step / 80) + 0.15 * math.sin(step)
        events.append(
            StepCompleted(
                step=step,
                loss=loss,
                lr=1e-3,
                grad_norm=0.5 + 0.1 * math.cos(step),
                tokens_per_s=1234.0 + 10 * (step % 7),
                elapsed_s=step * 0.1,
                tokens_seen=step * TOKENS_PER_STEP,
            )
        )
        if step % eval_every == 0:
            train_loss = 1.2 + (math.log(vocab_size) - 1.2) * math.exp(-step / 80)
            events.append(
                EvalCompleted(
                    step=step, train_loss=train_loss, val_loss=train_loss + 0.1 + step / 2000
                )
            )
            if learning:
                events += fake_head_scores(step, n_layer, n_head)
            words = " ".join(VOCAB[1 + (step // eval_every + i) % 12] for i in range(8))
            events.append(SampleGenerated(step=step, prompt="oh", text=f"oh {words}"))
            events.append(CheckpointSaved(step=step, path="/tmp/fake-run/model.safetensors"))
        if learning and step % 50 == 0:
            events.append(fake_stats(step, n_layer, n_head))
    if finished:
        events.append(TrainingFinished(reason=FinishReason.COMPLETED, step=steps))
    return events


def _function(method: Callable) -> Callable:
    # A test may swap a method for a plain function on the instance: that function is the method.
    return getattr(method, "__func__", method)


INDUCTION_FROM = 200  # the step from which make_events(learning=True) has an induction head


def fake_stats(step: int, n_layer: int, n_head: int) -> TrainingStats:
    """Updates that shrink from 10^-2 towards the 10^-3 guide, a layer-0 MLP whose dead share
    grows, attention that sharpens as the steps go on."""
    ratio = -2.0 - min(1.0, step / 600)
    weights = [WeightStats("token_embedding", None, 1.0, 8.0 + step / 100, ratio - 0.3)]
    weights.append(WeightStats("position_embedding", None, 0.3, 2.0, ratio - 0.5))
    for layer in range(n_layer):
        for n, matrix in enumerate(("qkv", "attn_out", "mlp_in", "mlp_out")):
            weights.append(
                WeightStats(matrix, layer, 0.1 * (n + 1), 4.0 + layer, ratio + 0.1 * (n - layer))
            )
    layers = tuple(
        LayerStats(layer, 0.3 + 0.05 * layer, (0.18 if layer == 0 else 0.0) * step / 600, 5.0)
        for layer in range(n_layer)
    )
    heads = tuple(
        HeadStats(layer, head, max(0.2, 1.6 - step / 400 - 0.2 * head), 2.0 + step / 100)
        for layer in range(n_layer)
        for head in range(n_head)
    )
    return TrainingStats(step, tuple(weights), layers, heads, 1.6)


def fake_head_scores(step: int, n_layer: int, n_head: int) -> list:
    """HeadsScored at an eval, and a PhaseChanged where the induction head forms."""
    formed = step >= INDUCTION_FROM
    heads = tuple(
        HeadScore(
            layer,
            head,
            previous_token=0.8 if (layer, head) == (0, 0) else 0.1,
            duplicate_token=0.05,
            induction=0.7 if formed and (layer, head) == (n_layer - 1, 0) else 0.05,
        )
        for layer in range(n_layer)
        for head in range(n_head)
    )
    icl = -0.4 if formed else -0.05
    events: list = [HeadsScored(step, heads, icl, 2.5, 2.5 + icl)]
    if step == INDUCTION_FROM:
        detail = f"induction head L{n_layer - 1}H0 formed at step {step:,}: score 0.70"
        events.append(PhaseChanged(PhaseKind.INDUCTION, step, n_layer - 1, 0, 0.7, detail))
    return events


MEMORISED_AT, GENERALISED_AT = 150, 450  # make_task_events("modadd")'s markers


def make_task_events(task: str, steps: int = 600, eval_every: int = 50) -> list:
    """A finished task run's history. modadd (p = 59): train accuracy reaches 100% by step 150
    while val stays near 20%, then val climbs from step 350 and the weights' norm shrinks;
    induction (64 symbols): the second half's loss drops from ln 64 to near 0 around step 200,
    where head L1H0 becomes an induction head, while the first half's stays."""
    vocab = 61 if task == "modadd" else 65
    events: list = [
        TrainingStarted(
            run_dir="/tmp/fake-run",
            preset="grokking" if task == "modadd" else "induction",
            device="cpu",
            dtype="float32",
            tokenizer="word",
            vocab_size=vocab,
            n_params=54_321,
            n_layer=2,
            n_head=2,
            n_embd=64,
            block_size=3 if task == "modadd" else 32,
            batch_size=1740 if task == "modadd" else 32,
            start_step=0,
            max_steps=steps,
            train_tokens=5220 if task == "modadd" else 0,
            val_tokens=5223 if task == "modadd" else 16896,
            probe="20 20 = 40" if task == "modadd" else "5 9 1 5 9 1",
            lr_schedule=fake_schedule(),
            task=task,
        )
    ]
    for step in range(0, steps + 1):
        late = 1 / (1 + math.exp(-(step - 400) / 30))  # modadd's val climbs around step 400
        early = 1 / (1 + math.exp(-(step - 80) / 20))  # and train around step 80
        formed = 1 / (1 + math.exp(-(step - INDUCTION_FROM) / 15))  # induction's repeat
        if task == "modadd":
            loss = 4.1 * (1 - early) + 0.01
        else:
            loss = 4.16 - 1.9 * formed
        if step:
            events.append(StepCompleted(step, loss, 1e-3, 0.5, 5000.0, step * 0.2, step * 5220))
        if step % eval_every == 0:
            if task == "modadd":
                val_loss = 4.1 + 1.5 * early * (1 - late) - 4.0 * late
                events.append(
                    EvalCompleted(
                        step, loss, val_loss, train_accuracy=min(1.0, 0.02 + early),
                        val_accuracy=0.02 + 0.2 * early + 0.78 * late,
                    )
                )  # fmt: skip
            else:
                second = 4.16 - 3.96 * formed
                first = 4.16 + 1.5 * formed
                events.append(
                    EvalCompleted(
                        step, loss, loss, train_accuracy=0.95 * formed, val_accuracy=0.95 * formed,
                        first_half_loss=first, second_half_loss=second,
                    )
                )  # fmt: skip
            events += fake_head_scores(step, 2, 2) if task == "induction" else []
            if task == "modadd" and step == MEMORISED_AT:
                events.append(PhaseChanged(PhaseKind.MEMORISED, step, None, None, 1.0,
                                           "memorised at step 150"))  # fmt: skip
            if task == "modadd" and step == GENERALISED_AT:
                events.append(PhaseChanged(PhaseKind.GENERALISED, step, None, None, 0.6,
                                           "generalised at step 450 (grokking)"))  # fmt: skip
            prompt, text = (
                ("20 20 =", "20 20 = 40") if task == "modadd" else ("5 9 1", "5 9 1 5 9 1")
            )
            events.append(SampleGenerated(step, prompt, text))
        if step and step % 50 == 0:
            stats = fake_stats(step, 2, 2)
            scale = 1.0 if step < 200 else 1.0 - 0.5 * min(1.0, (step - 200) / 400)
            weights = tuple(
                WeightStats(w.matrix, w.layer, w.grad_norm, w.weight_norm * 3 * scale,
                            w.update_ratio)
                for w in stats.weights
            )  # fmt: skip
            events.append(TrainingStats(step, weights, stats.layers, stats.heads, 1.6))
    events.append(TrainingFinished(reason=FinishReason.COMPLETED, step=steps))
    return events


class FakeGeneration:
    """Iterator of GeneratedToken with the `.unknown` words of the prompt."""

    def __init__(self, tokens: list[GeneratedToken], unknown: list[str], step: int = 0) -> None:
        self.unknown = unknown
        self.step = step
        self._tokens = iter(tokens)

    def __iter__(self) -> FakeGeneration:
        return self

    def __next__(self) -> GeneratedToken:
        return next(self._tokens)


class FakeEngine:
    """Implements the EngineClient interface with deterministic data; records every request."""

    def __init__(
        self,
        events: list | None = None,
        *,
        live: bool = True,
        n_layer: int = 2,
        n_head: int = 2,
        fail_generate: str | None = None,
    ) -> None:
        self.run_dir = Path("/tmp/fake-run")
        self._events = make_events(n_layer=n_layer, n_head=n_head) if events is None else events
        self.live = live
        self.n_layer, self.n_head = n_layer, n_head
        self.fail_generate = fail_generate
        self.calls: list[tuple[Callable, tuple]] = []  # (method served, its arguments), in order
        self.at_steps: list[tuple[Callable, int | None]] = []  # (method, the at_step it was asked)
        self.closed = threading.Event()
        self._live: queue.Queue = queue.Queue()  # events the fake's own requests cause
        self._state = RunState.STARTING
        self._live_step = 0
        for event in self._events:
            self._state = advance(self._state, event)

    @classmethod
    def start(
        cls,
        config: RunConfig,
        run_dir: str | Path | None = None,
        *,
        detach: bool = False,
        nproc: int = 1,
    ) -> FakeEngine:
        return cls()

    @classmethod
    def attach(cls, run_dir) -> FakeEngine:
        return cls()

    def _record(self, method: Callable, *args: object) -> None:
        self.calls.append((_function(method), args))

    def asked(self, method: Callable) -> list[tuple]:
        """The arguments of each call of `method` (a bound method of this fake: fake.trace)."""
        return [args for func, args in self.calls if func is _function(method)]

    def asked_at(self, method: Callable) -> list[int | None]:
        """The at_step of each call of `method` (generate, attention or trace)."""
        return [step for func, step in self.at_steps if func is _function(method)]

    def events(self, history_bytes: int | None = None) -> Iterator[Event]:
        yield from self._events
        steps = sum(isinstance(event, StepCompleted) for event in self._events)
        yield HistoryReplayed(len(self._events), steps)
        deadline = time.monotonic() + PATIENCE_S
        while self.live and not self.closed.is_set() and time.monotonic() < deadline:
            try:  # a live connection stays open until close(), with what requests caused
                yield self._live.get(timeout=0.05)
            except queue.Empty:
                continue

    def _happen(self, event: Event) -> None:
        self._state = advance(self._state, event)
        self._live_step = max(self._live_step, getattr(event, "step", 0))
        self._live.put(event)

    def emit(self, event: Event) -> None:
        """Send an event on the live connection, as if the run had just produced it."""
        self._happen(event)

    def _step(self) -> int:
        canned = max((getattr(e, "step", 0) for e in self._events), default=0)
        return max(canned, self._live_step)

    def pause(self) -> None:
        self._record(self.pause)
        if self._state is RunState.RUNNING:
            self._happen(TrainingPaused(self._step(), PauseCause.USER))

    def resume(self) -> None:
        self._record(self.resume)
        if self._state is RunState.PAUSED:
            self._happen(TrainingResumed(self._step()))

    def stop(self) -> None:
        self._record(self.stop)
        if self._state.live:
            self._happen(TrainingFinished(FinishReason.STOPPED, self._step()))

    def save(self) -> None:
        self._record(self.save)

    def sample_now(self) -> None:
        self._record(self.sample_now)

    def generate(
        self, prompt: str, config: SampleConfig | None = None, at_step: int | None = None
    ) -> FakeGeneration:
        self._record(self.generate, prompt, config)
        self.at_steps.append((_function(self.generate), at_step))
        if self.fail_generate:
            raise EngineError(self.fail_generate)
        config = config or SampleConfig()
        unknown = [word for word in prompt.split() if word not in VOCAB]
        tokens = []
        for i in range(config.max_new_tokens):
            # Every word of VOCAB gets a logit (so the pipeline is exact), falling from the step's
            # word; each fourth step draws the runner-up where the settings allow it.
            ids = [1 + (i + j) % (len(VOCAB) - 1) for j in range(len(VOCAB) - 1)] + [0]
            texts = tuple(VOCAB[t] for t in ids)
            logits = tuple(2.0 - 0.7 * j for j in range(len(ids)))
            top = TopLogits(tuple(ids), texts, logits, math.log(sum(map(math.exp, logits))), 13)
            # As the engine: the distribution drawn from (the raw one at temperature 0).
            c = config
            probs = sampling_pipeline(top, c.temperature, c.top_k, c.top_p).final.probs
            pick = 1 if i % 4 == 3 and config.temperature > 0 and probs[1] > 0 else 0
            candidates = tuple(Candidate(ids[j], texts[j], probs[j]) for j in range(config.top_n))
            token = GeneratedToken(ids[pick], " " + texts[pick], probs[pick], candidates, top)
            tokens.append(token)
        return FakeGeneration(tokens, unknown, self._at(at_step))

    def _map(self, text: str, step: int) -> AttentionMap:
        """Smooth made-up weights, except that from step PREVIOUS_TOKEN_FROM on, head 1 of layer
        1 puts all its attention on the previous token (the first token on itself)."""
        tokens = text.split() or ["\n"]
        T = len(tokens)
        weights = array("f")
        for layer in range(self.n_layer):
            for head in range(self.n_head):
                for q in range(T):
                    if (layer, head) == (0, 0) and step >= PREVIOUS_TOKEN_FROM:
                        weights.extend(1.0 if k == max(0, q - 1) else 0.0 for k in range(T))
                        continue
                    raw = [
                        1.0 + ((layer + head + q + k + step // 100) % 4) ** 2 if k <= q else 0.0
                        for k in range(T)
                    ]
                    total = sum(raw)
                    weights.extend(value / total for value in raw)
        unknown = [token for token in tokens if token not in VOCAB]
        return AttentionMap(
            tokens=tokens,
            token_ids=list(range(T)),
            shape=(self.n_layer, self.n_head, T, T),
            weights=weights,
            unknown=unknown,
            step=step,
        )

    def attention(self, text: str, at_step: int | None = None) -> AttentionMap:
        self._record(self.attention, text)
        self.at_steps.append((_function(self.attention), at_step))
        return self._map(text, 300 if at_step is None else self._at(at_step))

    def kept_steps(self) -> list[int]:
        return [0, 100, 200, 300]

    def _at(self, at_step: int | None) -> int:
        """The step whose weights answer: the nearest kept one at or before `at_step`."""
        if at_step is None:
            return self._step()
        return max((s for s in self.kept_steps() if s <= at_step), default=0)

    def attention_steps(self) -> list[int]:
        return [100, 200, 300]

    def attention_at(self, step: int) -> AttentionMap:
        self._record(self.attention_at, step)
        return self._map("oh my love you are the one", step)

    def logit_lens(self, text: str, at_step: int | None = None) -> LogitLens:
        """The first half of the rows guesses "oh" everywhere, the rest the word after each
        word in VOCAB; every row grows surer with depth and with the step."""
        self._record(self.logit_lens, text, at_step)
        return self._lens(text.split()[:6] or ["\n"], self._at(at_step))

    def logit_lens_at(self, step: int) -> LogitLens:
        self._record(self.logit_lens_at, step)
        return self._lens("oh my love you are the one".split()[:6], step)

    def _lens(self, words: list[str], step: int) -> LogitLens:
        rows = self.n_layer + 1
        ids = [VOCAB.index(w) if w in VOCAB else 0 for w in words]
        top = []
        for row in range(rows):
            sure = (row + 1) / rows * min(1.0, step / 300)
            guess = [
                ids[i] % (len(VOCAB) - 1) + 1 if row >= rows // 2 else VOCAB.index("oh")
                for i in range(len(ids))
            ]
            top.append(tuple(Candidate(g, VOCAB[g], round(0.1 + 0.8 * sure, 4)) for g in guess))
        targets = tuple(
            tuple(round(0.05 + 0.9 * (row + 1) / rows * step / 300, 4) for _ in ids[1:])
            for row in range(rows)
        )
        return LogitLens(
            tokens=tuple(words),
            token_ids=tuple(ids),
            layers=("embeddings", *(f"block {i}" for i in range(self.n_layer))),
            top=tuple(top),
            target_probs=targets,
            step=step,
        )

    def embedding_map_at(self, step: int) -> EmbeddingMap:
        """VOCAB on a circle that tightens as the steps go on, most frequent first."""
        self._record(self.embedding_map_at, step)
        n = len(VOCAB)
        radius = 1.0 - step / 1000
        angles = [2 * math.pi * i / n for i in range(n)]
        return EmbeddingMap(
            token_ids=tuple(range(n)),
            texts=tuple(VOCAB),
            counts=tuple(100 - 5 * i for i in range(n)),
            x=tuple(round(radius * math.cos(a), 4) for a in angles),
            y=tuple(round(radius * math.sin(a), 4) for a in angles),
            labelled=8,
            explained=(0.4, 0.2),
            step=step,
        )

    def trace(self, text: str, position: int = -1, at_step: int | None = None) -> ForwardTrace:
        """The real stage layout for the fake's model shape, with made-up smooth vectors."""
        self._record(self.trace, text, position)
        self.at_steps.append((_function(self.trace), at_step))
        words = text.split()[:6] or ["\n"]
        T, V = len(words), len(VOCAB)
        if not -T <= position < T:
            raise EngineError(f"position {position} is outside the text's {T} tokens")
        position %= T
        ids = tuple(VOCAB.index(w) if w in VOCAB else 0 for w in words)
        stages = []
        for n, spec in enumerate(stage_layout(T, V, 6, self.n_layer, self.n_head, 32, False)):
            rows = spec.shape[0] if spec.per_head else 1
            width = spec.shape[-1]
            vectors = tuple(
                tuple(round(math.sin(n + r + position + 0.3 * i), 4) for i in range(width))
                for r in range(rows)
            )
            norms = tuple(math.sqrt(sum(v * v for v in vector)) for vector in vectors)
            stages.append(TraceStage(spec.name, spec.kind, spec.layer, spec.shape, spec.params,
                                     spec.per_head, vectors, norms))  # fmt: skip
        parts = model_parts(V, 6, self.n_layer, 32, False)
        return ForwardTrace(
            tokens=tuple(words),
            token_ids=ids,
            position=position,
            stages=tuple(stages),
            parts=parts,
            n_params=sum(p.params for p in parts),
            neighbours=tuple(Neighbour(i, VOCAB[i], 0.9 - 0.1 * i) for i in range(1, 9)),
            candidates=tuple(Candidate(i, VOCAB[i], 0.4 / i) for i in range(1, 9)),
            step=self._at(at_step),
            roles=tuple(
                HeadRole(layer, head, role, 0.9 - 0.1 * head, ((role, 0.9 - 0.1 * head),))
                for layer in range(self.n_layer)
                for head, role in zip(range(self.n_head), cycle(ROLES + (MIXED,)), strict=False)
            ),
        )

    def token_losses(self) -> PassageLosses:
        """Losses 0.5, 1.5, 2.5, 0.5, ... scaled by 300 / step: they fall as the run goes on.
        Where the loss is lowest the model expected the actual token first, elsewhere "oh"."""
        self._record(self.token_losses)
        words = ["oh", "my", "love", "you", "are", "the", "one"]
        ids = tuple(VOCAB.index(w) for w in words)
        step = self._step()
        losses = tuple((0.5 + i % 3) * 300 / max(step, 1) for i in range(len(words) - 1))
        expected = []
        for i, loss in enumerate(losses):
            first = ids[i + 1] if i % 3 == 0 else 1
            guesses = [first] + [t for t in (2, 3, 4, 5, 6) if t not in (first, ids[i + 1])][:2]
            probs = (math.exp(-loss), 0.2, 0.1) if i % 3 == 0 else (0.6, 0.2, 0.1)
            expected.append(
                tuple(Candidate(t, VOCAB[t], p) for t, p in zip(guesses, probs, strict=True))
            )
        return PassageLosses(
            tokens=tuple(words),
            token_ids=ids,
            losses=losses,
            expected=tuple(expected),
            mean=sum(losses) / len(losses),
            step=step,
        )

    def ablate(self, ablation: Ablation, text: str, position: int = -2) -> AblationResult:
        """Knocking out block L's part costs 0.3 * (L + 1) nats (a head a third of that, less
        for later heads); the candidates' order turns round without it."""
        self._record(self.ablate, ablation, text, position)
        tokens = tuple(text.split()) or ("oh",)
        position %= len(tokens)
        cost = 0.3 * (ablation.layer + 1)
        if ablation.head is not None:
            cost = cost / 3 - 0.02 * ablation.head
        candidates = tuple(Candidate(i, VOCAB[i], 0.5 / i) for i in range(1, 6))
        actual = None
        if position + 1 < len(tokens):
            word = tokens[position + 1]
            actual = Candidate(VOCAB.index(word) if word in VOCAB else 0, word, 0.4)
        return AblationResult(
            ablation=ablation,
            step=self._step(),
            val_loss=1.5,
            ablated_val_loss=1.5 + cost,
            probe_loss=1.2,
            ablated_probe_loss=1.2 + 2 * cost,
            tokens=tokens,
            position=position,
            candidates=candidates,
            ablated_candidates=tuple(reversed(candidates)),
            actual=actual,
            ablated_actual=actual and Candidate(actual.token_id, actual.text, 0.1),
        )

    def head_importance(self, method: AblationMethod = AblationMethod.ZERO) -> ImportanceTable:
        self._record(self.head_importance, method)
        rows = [
            HeadImportance(layer, head, 1.5 + cost, cost)
            for layer in range(self.n_layer)
            for head in range(self.n_head)
            for cost in [0.1 * (layer + 1) - 0.03 * head]
        ]
        rows.sort(key=lambda row: -row.increase)
        return ImportanceTable(method, self._step(), 1.5, tuple(rows))

    GAME_WORDS = ("oh", "my", "love", "you", "are", "the", "one")

    def game_passage(self, number: int) -> GamePassage:
        """The same seven words each time, every word after the first asked."""
        self._record(self.game_passage, number)
        ids = tuple(VOCAB.index(word) for word in self.GAME_WORDS)
        return GamePassage(number, self.GAME_WORDS, ids, tuple(range(1, len(ids))))

    def guess(self, number: int, position: int, guess: str) -> GuessResult:
        """The model is right at even positions (else it says "oh"); a guess of a word it
        knows gets 0.5 if right, else 0.05; one it does not know, nothing."""
        self._record(self.guess, number, position, guess)
        word = self.GAME_WORDS[position]
        actual = Candidate(VOCAB.index(word), word, 0.5)
        top = actual if position % 2 == 0 else Candidate(1, "oh", 0.6)
        known = guess.strip().lower() in VOCAB
        correct = guess.strip().lower() == word
        return GuessResult(
            number=number,
            position=position,
            guess=guess,
            guess_token=guess.strip().lower() if known else "",
            guess_prob=0.5 if correct else 0.05 if known else 0.0,
            guess_rank=(1 if correct else 4) if known else None,
            actual=actual,
            top=top,
            correct=correct,
            model_correct=top == actual,
            step=self._step(),
            note="" if known else f"{guess!r} is not in the model's vocabulary",
        )

    def status(self) -> RunStatus:
        return RunStatus(
            state=self._state,
            step=self._step(),
            max_steps=600,
            run_dir=str(self.run_dir),
            preset="seed",
            device="cpu",
        )

    def close(self) -> None:
        self._record(self.close)
        self.closed.set()

    def detach(self) -> None:
        self._record(self.detach)
        self.closed.set()

    def shutdown(self) -> None:
        self._record(self.shutdown)
        self.closed.set()
