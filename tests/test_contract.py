"""The engine <-> client contract: one run state, typed records on one codec, one Protocol."""

from __future__ import annotations

import inspect
import math
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from engine import (
    EngineClient,
    EngineFailed,
    EvalCompleted,
    FinishReason,
    LossNotFinite,
    PauseCause,
    RunClient,
    RunState,
    StepCompleted,
    TokenizeStage,
    Trainer,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
    advance,
)
from engine.contract.config import SampleConfig
from engine.contract.events import EVENT_TYPES, PhaseChanged, PhaseKind
from engine.contract.experiments import (
    Ablation,
    AblationMethod,
    AblationPart,
    AblationResult,
    GamePassage,
    GuessResult,
    HeadImportance,
    ImportanceTable,
)
from engine.contract.inside import ForwardTrace, ModelPart, Neighbour, PassageLosses, TraceStage
from engine.contract.learning import HeadScore, HeadStats, LayerStats, WeightStats
from engine.contract.outputs import Candidate, GeneratedToken, HeadRole, RunStatus, TopLogits
from engine.contract.requests import REPLY_TYPES, REQUEST_TYPES
from engine.contract.snapshots import EmbeddingMap, LogitLens
from engine.process.worker import Worker
from engine.runs.files import whole_event
from tests.conftest import tiny_config
from tests.tui_fakes import FakeEngine, make_events

PROTOCOL_METHODS = [
    name
    for name, member in vars(RunClient).items()
    if (callable(member) or isinstance(member, classmethod)) and not name.startswith("_")
]


def test_the_fake_and_the_real_client_both_satisfy_the_protocol():
    real = object.__new__(EngineClient)  # no worker needed to check its shape
    real.run_dir = Path("runs/x")
    fake: RunClient = FakeEngine()  # and a type checker sees the same claim
    assert isinstance(real, RunClient) and isinstance(fake, RunClient)
    # The per-method checks below see instance methods and the classmethods that start a run.
    assert {"events", "generate", "close", "start", "attach"} <= set(PROTOCOL_METHODS)


@pytest.mark.parametrize("name", PROTOCOL_METHODS)
def test_fake_and_real_client_agree_on_each_method_signature(name):
    def shape(cls) -> list[tuple[str, object]]:
        parameters = inspect.signature(getattr(cls, name)).parameters.values()
        return [(p.name, p.kind) for p in parameters]

    assert shape(FakeEngine) == shape(EngineClient) == shape(RunClient)


def _example(annotation) -> object:
    """A value of a field's type, with a NaN where a float allows one."""
    examples = {
        "int": 3,
        "float": math.nan,
        "str": "oh\n\x1b love",
        "bool": True,
        "int | None": 7,
        "float | None": math.nan,
        "tuple[float, ...]": (1e-3, math.nan),
        "str | None": "x",
        "PauseCause": PauseCause.NOT_FINITE,
        "FinishReason": FinishReason.DIVERGED,
        "TokenizeStage": TokenizeStage.VOCAB,
        "tuple[str, ...]": ("a", "b"),
        "tuple[int, ...]": (1, 2),
        "SampleConfig | None": SampleConfig(temperature=0.5, top_k=3),
        "RunStatus | None": RunStatus(RunState.PAUSED, 5, 10, "runs/x", "seed", "cpu", 2),
        "GeneratedToken | None": GeneratedToken(
            4, " oh", 0.25, (Candidate(4, " oh", 0.25),), TopLogits((4,), (" oh",), (1.5,), 2.0, 9)
        ),
        "ForwardTrace | None": ForwardTrace(
            ("oh", "my"),
            (1, 2),
            1,
            (
                TraceStage(
                    "block 0 · causal mask",
                    "causal_mask",
                    0,
                    (2, 2, 2),
                    0,
                    True,
                    ((0.5, math.inf * -1), (0.1, math.nan)),
                    (0.5, math.nan),
                ),
                TraceStage("logits", "logits", None, (2, 9), 0, False, ((1.0,) * 9,), (3.0,)),
            ),
            (ModelPart("position embedding", 192),),
            192,
            (Neighbour(3, "love", -0.5),),
            (Candidate(3, "love", 0.5),),
            ("zz",),
            True,
            40,
            (HeadRole(0, 1, "induction", 0.8, (("induction", 0.8), ("first-token", math.nan))),),
        ),  # fmt: skip
        "PassageLosses | None": PassageLosses(
            ("oh", "my"), (1, 2), (2.5,), ((Candidate(2, "my", 0.1),),), 2.5, 7
        ),
        "PhaseKind": PhaseKind.ICL,
        "tuple[WeightStats, ...]": (
            WeightStats("qkv", 1, 0.5, 3.0, -math.inf),
            WeightStats("token_embedding", None, math.nan, 2.0, -2.9),
        ),
        "tuple[LayerStats, ...]": (LayerStats(0, 0.25, 0.0, 4.5),),
        "tuple[HeadStats, ...]": (HeadStats(1, 0, 1.5, math.nan),),
        "tuple[HeadScore, ...]": (HeadScore(0, 1, 0.9, math.nan, 0.05),),
        "LogitLens | None": LogitLens(
            ("oh", "my"),
            (1, 2),
            ("embeddings", "block 0"),
            ((Candidate(2, "my", 0.1), Candidate(3, "love", 0.2)),) * 2,
            ((0.1,), (math.nan,)),
            ("zz",),
            True,
            40,
        ),
        "Ablation | None": Ablation(AblationPart.HEAD, 1, 0, AblationMethod.MEAN),
        "AblationMethod": AblationMethod.MEAN,
        "AblationResult | None": AblationResult(
            Ablation(AblationPart.MLP, 0),
            40,
            1.5,
            math.nan,
            2.0,
            2.5,
            ("oh", "my"),
            0,
            (Candidate(2, "my", 0.5),),
            (Candidate(3, "love", 0.25),),
            Candidate(2, "my", 0.5),
            None,
            0.75,
            None,
        ),  # fmt: skip
        "ImportanceTable | None": ImportanceTable(
            AblationMethod.ZERO, 40, 1.5, (HeadImportance(1, 0, 2.0, 0.5),)
        ),
        "GamePassage | None": GamePassage(2, ("3", "4", "=", "7"), (4, 5, 9, 8), (3,)),
        "GuessResult | None": GuessResult(
            2,
            3,
            " 7",
            "7",
            0.5,
            1,
            Candidate(8, "7", 0.5),
            Candidate(8, "7", 0.5),
            True,
            True,
            40,
            "",
        ),  # fmt: skip
        "EmbeddingMap | None": EmbeddingMap(
            (1, 2), ("oh", "my"), (9, 3), (0.5, -0.5), (math.nan, 1.0), 1, (0.5, 0.25), 40
        ),
    }
    return examples[annotation]


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if is_dataclass(a):
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a)
        )
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    return a == b and type(a) is type(b)


@pytest.mark.parametrize(
    "family, kind",
    [(f, k) for f in (EVENT_TYPES, REQUEST_TYPES, REPLY_TYPES) for k in f.types],
)
def test_every_record_survives_the_codec_with_its_types(family, kind):
    cls = family.types[kind]
    record = cls(**{f.name: _example(f.type) for f in fields(cls)})
    line = record.to_json()
    assert "\n" not in line  # one record, one line of events.jsonl or one message
    if family is EVENT_TYPES:  # no nested field called "kind": '{"kind":' starts a line
        assert whole_event(line.encode())
    assert _same(family.from_json(line), record)


def test_the_codec_refuses_what_it_does_not_know():
    for bad in ('{"kind": "nope"}', "[1]", '{"kind": "step"}', "not json"):
        with pytest.raises(ValueError):
            EVENT_TYPES.from_json(bad)


def test_an_old_log_line_without_new_fields_still_reads():
    paused = EVENT_TYPES.from_json('{"kind":"paused","step":4,"reason":"requested"}')
    assert paused == TrainingPaused(4, PauseCause.USER, "")


def test_the_worker_serves_every_request_type_through_its_table():
    assert set(Worker.HANDLERS) == set(REQUEST_TYPES.types.values())


def test_run_state_follows_the_events():
    started = make_events(steps=0)[0]
    assert isinstance(started, TrainingStarted)
    state = RunState.STARTING
    path = []
    for event in [
        started,
        StepCompleted(1, 2.0, 1e-3, 0.5, 100.0, 0.1, 96),
        TrainingPaused(1, PauseCause.USER),
        EvalCompleted(1, 2.0, 2.1),
        TrainingResumed(1),
        TrainingFinished(FinishReason.STOPPED, 1),
    ]:
        state = advance(state, event)
        path.append(state)
    assert path == [
        RunState.RUNNING,
        RunState.RUNNING,
        RunState.PAUSED,
        RunState.PAUSED,
        RunState.RUNNING,
        RunState.STOPPED,
    ]
    assert advance(RunState.RUNNING, TrainingFinished(FinishReason.COMPLETED, 9)) is (
        RunState.FINISHED
    )
    assert advance(RunState.RUNNING, TrainingFinished(FinishReason.DIVERGED, 9)) is (
        RunState.FAILED
    )
    assert advance(RunState.PAUSED, EngineFailed("killed")) is RunState.FAILED
    assert [s.live for s in RunState] == [False, True, True, False, False, False]
    assert [s.ended for s in RunState] == [False, False, False, True, True, True]


def test_a_script_gets_the_time_lapse_and_the_pause_on_a_non_finite_step(corpus, tmp_path):
    """Training policy lives in Trainer.events(), not in the worker."""
    config = tiny_config(corpus, max_steps=4, eval_every=2, lr=1e6, min_lr=0.0, grad_clip=0.0)
    trainer = Trainer.create(config, tmp_path / "run")
    events = trainer.events()
    seen = []
    for event in events:
        seen.append(event)
        if isinstance(event, TrainingPaused):
            break
    bad = next(e for e in seen if isinstance(e, LossNotFinite))
    paused = seen[-1]
    assert paused.cause is PauseCause.NOT_FINITE and f"the {bad.what} became" in paused.detail
    assert bad.what in ("loss", "gradient norm")
    assert (tmp_path / "run" / "attention").is_dir()  # the step-0 eval stored the probe's map
    # Advancing again resumes, as the worker does when a client resumes.
    assert isinstance(next(events), TrainingResumed)
    trainer.close()


def test_a_user_pause_is_announced_at_the_next_step_boundary(corpus):
    trainer = Trainer.create(tiny_config(corpus, max_steps=50, eval_every=100))
    events = trainer.events()
    while not isinstance(next(events), StepCompleted):
        pass
    trainer.control.pause = PauseCause.USER
    event = next(events)
    assert event == TrainingPaused(trainer.step, PauseCause.USER, "")
    step = trainer.step
    trainer.control.stop = True  # stopping a paused run ends it without another step
    rest = list(events)
    assert isinstance(rest[-1], TrainingFinished) and rest[-1].reason is FinishReason.STOPPED
    assert trainer.step == step and not any(isinstance(e, TrainingResumed) for e in rest)


def test_every_phase_kind_has_its_own_plain_chart_label():
    """The app's charts and the report's mark phase changes with these words (drawn into plot
    cells, so plain ASCII); a task's two moments once both read as in-context learning."""
    labels = [PhaseChanged(kind, 10, None, None, 1.0).label() for kind in PhaseKind]
    assert len(set(labels)) == len(PhaseKind) and all(label.isascii() for label in labels)
    assert PhaseChanged(PhaseKind.INDUCTION, 10, 1, 2, 0.5).label() == "L1H2 induction"
