"""Export a run's history to TensorBoard event files (the optional `tensorboard` extra).

Each run goes in its own folder under the output folder, so several runs exported to one place
compare side by side in `tensorboard --logdir OUT_DIR`. Reads only events.jsonl and config.json.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from engine.contract.errors import EngineError
from engine.contract.events import (
    EvalCompleted,
    HeadsScored,
    LossNotFinite,
    PhaseChanged,
    SampleGenerated,
    StepCompleted,
    TrainingStats,
)
from engine.runs.files import CONFIG, as_write_error, load_config, read_events, write_error

INSTALL_HINT = "pip install 'llm-learns[tensorboard]'"


@dataclass
class History:
    """A run's values by step. A resumed run may repeat steps after its last checkpoint: the
    later value wins, as it is the one the run went on from."""

    steps: dict[int, StepCompleted] = field(default_factory=dict)
    evals: dict[int, EvalCompleted] = field(default_factory=dict)
    samples: dict[int, SampleGenerated] = field(default_factory=dict)
    not_finite: dict[int, LossNotFinite] = field(default_factory=dict)
    stats: dict[int, TrainingStats] = field(default_factory=dict)
    heads: dict[int, HeadsScored] = field(default_factory=dict)
    phases: list[PhaseChanged] = field(default_factory=list)


def read_history(run_dir: Path) -> History:
    history = History()
    for event in read_events(run_dir):
        if isinstance(event, StepCompleted):
            history.steps[event.step] = event
        elif isinstance(event, EvalCompleted):
            history.evals[event.step] = event
        elif isinstance(event, SampleGenerated):
            history.samples[event.step] = event
        elif isinstance(event, LossNotFinite):
            history.not_finite[event.step] = event
        elif isinstance(event, TrainingStats):
            history.stats[event.step] = event
        elif isinstance(event, HeadsScored):
            history.heads[event.step] = event
        elif isinstance(event, PhaseChanged):
            history.phases.append(event)
    return history


def _scalars(history: History, step: int) -> list[tuple[str, float]]:
    """The learning's (tag, value) pairs at a step: training statistics and head scores."""
    out: list[tuple[str, float]] = []
    if (stats := history.stats.get(step)) is not None:
        for w in stats.weights:
            name = w.matrix if w.layer is None else f"{w.layer}.{w.matrix}"
            out += [
                (f"grad_norm/{name}", w.grad_norm),
                (f"weight_norm/{name}", w.weight_norm),
                (f"update_ratio/{name}", w.update_ratio),
            ]
        for layer in stats.layers:
            out += [
                (f"mlp_near_zero/{layer.layer}", layer.mlp_near_zero),
                (f"mlp_dead/{layer.layer}", layer.mlp_dead),
                (f"residual_norm/{layer.layer}", layer.residual_norm),
            ]
        for head in stats.heads:
            out += [
                (f"attention_entropy/L{head.layer}H{head.head}", head.entropy),
                (f"attention_max_score/L{head.layer}H{head.head}", head.max_score),
            ]
    if (scored := history.heads.get(step)) is not None:
        for h in scored.heads:
            name = f"L{h.layer}H{h.head}"
            out += [
                (f"heads/previous_token/{name}", h.previous_token),
                (f"heads/duplicate_token/{name}", h.duplicate_token),
                (f"heads/induction/{name}", h.induction),
            ]
        out.append(("eval/icl_score", scored.icl_score))
    return [(tag, value) for tag, value in out if math.isfinite(value)]


def _summary_writer():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises it when the tensorboard package is missing
        message = f"TensorBoard export needs the tensorboard package: {INSTALL_HINT}"
        raise EngineError(message) from None
    return SummaryWriter


def export_tensorboard(run_dir: Path, out_dir: Path) -> Path:
    """Write run_dir's scalars and samples as TensorBoard events in out_dir/<run name>/.

    The folder is written aside and moved into place at the end, so a failed export leaves any
    earlier export of the run as it was. Returns the folder. Raises EngineError in one line.
    """
    config = load_config(run_dir)  # not a run directory: say so before anything is written
    SummaryWriter = _summary_writer()
    history = read_history(run_dir)
    if not history.steps and not history.evals:
        raise EngineError(f"{run_dir} has no training steps to export yet")
    target = out_dir / run_dir.resolve().name
    for path in (out_dir, target):  # a file is never replaced by an export
        if path.exists() and not path.is_dir():
            raise EngineError(f"{path} is a file, not a folder: give another --tensorboard folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{target.name}."))
    except OSError as error:
        raise write_error(out_dir, error) from None
    writer = None
    try:
        # Wall times: the run's start plus its training time, so "relative" time means something.
        start = (run_dir / CONFIG).stat().st_mtime
        writer = SummaryWriter(log_dir=str(temp))
        writer.add_text("config", f"```\n{config.to_json()}\n```", 0, walltime=start)
        elapsed = 0.0
        steps = history.steps.keys() | history.evals.keys() | history.samples.keys()
        for step in sorted(steps | history.stats.keys() | history.heads.keys()):
            if (event := history.steps.get(step)) is not None:
                elapsed = event.elapsed_s
                wall = start + elapsed
                writer.add_scalar("train/loss", event.loss, step, walltime=wall)
                writer.add_scalar("train/lr", event.lr, step, walltime=wall)
                writer.add_scalar("train/grad_norm", event.grad_norm, step, walltime=wall)
                if event.tokens_per_s > 0:  # 0 on steps between log_every points
                    writer.add_scalar("train/tokens_per_s", event.tokens_per_s, step, walltime=wall)
            if (ev := history.evals.get(step)) is not None:
                writer.add_scalar("eval/train_loss", ev.train_loss, step, walltime=start + elapsed)
                writer.add_scalar("eval/val_loss", ev.val_loss, step, walltime=start + elapsed)
            if (sample := history.samples.get(step)) is not None:
                # Markdown would eat the text's own line breaks and asterisks: show it as code.
                writer.add_text("sample", _code_block(sample.text), step, walltime=start + elapsed)
            for tag, value in _scalars(history, step):
                writer.add_scalar(tag, value, step, walltime=start + elapsed)
        for step, bad in sorted(history.not_finite.items()):
            writer.add_text("not_finite", f"{bad.summary()}: step not applied", step)
        for change in history.phases:
            writer.add_text("phase_changed", change.detail or change.phase, change.step)
        writer.close()
        if target.exists():
            shutil.rmtree(target)
        temp.rename(target)
    except BaseException as error:
        if writer is not None:  # its thread would go on writing into the folder removed below
            with contextlib.suppress(Exception):
                writer.close()
        shutil.rmtree(temp, ignore_errors=True)
        if failure := as_write_error(target, error):
            raise failure from None
        raise
    return target


def _code_block(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}\n{text}\n{fence}"
