"""What a report shows of a run, read from its files: the config, the history in brief
(engine/runs/history.py: a long run's steps merged, its statistics thinned), the state the run
was left in, which time-lapse snapshots exist, and what is damaged, missing or still being written.

Nothing here draws, and nothing refuses a damaged run: what can be read is kept and the rest is
named in `notes`. Only a folder that is no run at all is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.contract.config import RunConfig
from engine.contract.errors import CheckpointError
from engine.contract.events import (
    EngineFailed,
    EvalCompleted,
    Event,
    HeadsScored,
    LossNotFinite,
    PhaseChanged,
    SampleGenerated,
    StepCompleted,
    TrainingFinished,
    TrainingStarted,
    TrainingStats,
    event_from_json,
)
from engine.contract.run_state import RunState, advance, settled
from engine.lens.timelapse import snapshot_steps
from engine.runs.files import CONFIG, EVENTS, load_config
from engine.runs.history import Replay
from engine.runs.liveness import worker_alive

STEP_POINTS = 4_000  # a long history's steps merged into at most this many (a chart has ~1,000)
STATS_POINTS = 300  # its training statistics thinned to at most this many


@dataclass
class RunRecord:
    """A run as its files tell it. Step events may stand for several steps (StepCompleted.merged);
    a resumed run's repeated steps are those it went on from."""

    run_dir: Path
    config: RunConfig | None = None
    started: list[TrainingStarted] = field(default_factory=list)  # the first, then each resume
    steps: list[StepCompleted] = field(default_factory=list)
    evals: list[EvalCompleted] = field(default_factory=list)
    samples: list[SampleGenerated] = field(default_factory=list)
    stats: list[TrainingStats] = field(default_factory=list)
    heads: list[HeadsScored] = field(default_factory=list)
    phases: list[PhaseChanged] = field(default_factory=list)
    not_finite: list[LossNotFinite] = field(default_factory=list)
    ending: TrainingFinished | EngineFailed | None = None
    state: RunState = RunState.STARTING
    snapshots: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is damaged, missing or unfinished

    @property
    def name(self) -> str:
        return self.run_dir.resolve().name

    @property
    def last_step(self) -> int:
        return self.steps[-1].step if self.steps else (self.evals[-1].step if self.evals else 0)

    @property
    def max_steps(self) -> int | None:
        if self.started:
            return self.started[-1].max_steps
        return self.config.train.max_steps if self.config else None

    def best_val(self) -> EvalCompleted | None:
        return min(self.evals, key=lambda e: e.val_loss) if self.evals else None


def is_run_dir(run_dir: Path) -> bool:
    """A folder with a config or a history: anything less is not a run, however damaged."""
    return run_dir.is_dir() and ((run_dir / CONFIG).exists() or (run_dir / EVENTS).exists())


def read_record(run_dir: Path) -> RunRecord:
    """The run in `run_dir` as far as its files can be read. Raises CheckpointError, in one line,
    only for a path that is no run directory."""
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is not a run directory (no such folder)")
    if not is_run_dir(run_dir):
        raise CheckpointError(f"{run_dir} is not a run directory (no {CONFIG} or {EVENTS})")
    record = RunRecord(run_dir)
    try:
        record.config = load_config(run_dir)
    except CheckpointError as error:
        why = f"{CONFIG} is missing" if not (run_dir / CONFIG).exists() else str(error)
        record.notes.append(f"{why}: the figures shown are those the history recorded.")
    _read_history(record)
    try:
        record.snapshots = snapshot_steps(run_dir)
    except OSError:
        record.notes.append("The attention folder cannot be read: no snapshots are shown.")
    _note_state(record)
    return record


def _read_history(record: RunRecord) -> None:
    path = record.run_dir / EVENTS
    if not path.exists():
        record.notes.append(f"{EVENTS} is missing: this run has no history yet.")
        return
    replay = Replay(
        record.run_dir,
        recent=0,
        older_points=STEP_POINTS,
        recent_stats=0,
        older_stats=STATS_POINTS,
    )
    state, damaged = RunState.STARTING, 0
    samples: dict[int, SampleGenerated] = {}
    stats: dict[int, TrainingStats] = {}
    heads: dict[int, HeadsScored] = {}
    try:
        for batch in replay:
            for line in (batch or b"").splitlines():
                try:
                    event = event_from_json(line)
                except (ValueError, TypeError):
                    damaged += 1
                    continue
                state = advance(state, event)
                _add(record, event, samples, stats, heads)
    except OSError as error:
        record.notes.append(f"{path} cannot be read ({error.strerror or error}).")
    damaged += replay.skipped
    if damaged:
        record.notes.append(
            f"{damaged:,} damaged line(s) of {EVENTS} were left out; the rest is shown."
        )
    record.samples = [samples[step] for step in sorted(samples)]
    record.stats = [stats[step] for step in sorted(stats)]
    record.heads = [heads[step] for step in sorted(heads)]
    record.state = state
    if replay.total_bytes == 0 and not record.notes:
        record.notes.append(f"{EVENTS} is empty: this run has no history yet.")


def _add(
    record: RunRecord,
    event: Event,
    samples: dict[int, SampleGenerated],
    stats: dict[int, TrainingStats],
    heads: dict[int, HeadsScored],
) -> None:
    """One event into the record. A resumed run starts again from its checkpoint's step: what
    the run had logged past that step is what it went back on, so the later values replace it."""
    if isinstance(event, StepCompleted):
        if record.steps and event.step <= record.steps[-1].step:
            record.steps = [s for s in record.steps if s.step < event.step]
        record.steps.append(event)
    elif isinstance(event, EvalCompleted):
        if record.evals and event.step <= record.evals[-1].step:
            record.evals = [e for e in record.evals if e.step < event.step]
        record.evals.append(event)
    elif isinstance(event, SampleGenerated):
        samples[event.step] = event
    elif isinstance(event, TrainingStats):
        stats[event.step] = event
    elif isinstance(event, HeadsScored):
        heads[event.step] = event
    elif isinstance(event, PhaseChanged):
        if event not in record.phases:
            record.phases.append(event)
    elif isinstance(event, LossNotFinite):
        record.not_finite.append(event)
    elif isinstance(event, TrainingStarted):
        record.started.append(event)
        record.ending = None
    elif isinstance(event, (TrainingFinished, EngineFailed)):
        record.ending = event


def _note_state(record: RunRecord) -> None:
    """Say how far the run had come when the report was written, if it had not ended well."""
    try:
        alive = worker_alive(record.run_dir)
    except OSError:
        alive = False
    record.state = settled(record.state, alive)
    step, max_steps = record.last_step, record.max_steps
    of = f" of {max_steps:,}" if max_steps else ""
    if record.state.live or (record.state is RunState.STARTING and alive):
        record.notes.append(
            f"This run was still {record.state} when this report was written (step {step:,}"
            f"{of}): it shows what had been written by then."
        )
    elif isinstance(record.ending, EngineFailed):
        record.notes.append(f"The run failed at step {step:,}{of}: {record.ending.reason}")
    elif record.state is RunState.FAILED and record.started:
        if record.ending is None:
            record.notes.append(
                f"The history stops at step {step:,}{of} without an end: the worker training it "
                "died without a word (killed, or the machine went down)."
            )
        else:
            record.notes.append(f"The run diverged at step {step:,}: its loss was not finite.")
