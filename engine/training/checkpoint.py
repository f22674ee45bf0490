"""Saving and loading weights, optimizer state and trainer state as safetensors, atomically.

The optimizer file also carries the trainer's progress (step, tokens seen, RNG states) so a resumed
run continues exactly where the checkpoint left it.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine.contract.errors import CheckpointError
from engine.model.gpt import GPT
from engine.runs.files import MODEL, OPTIMIZER, atomic_write, atomic_write_pair, pending_path

FORMAT = "llmlearns-1"
_TIED = "lm_head.weight"  # with a tied head, the same tensor as wte.weight: stored once


@dataclass
class TrainerState:
    step: int = 0
    tokens_seen: int = 0
    elapsed_s: float = 0.0


def save_weights(path: Path, model: GPT, step: int) -> None:
    """The model's weights alone, atomically, as `path` (a kept past step: training/kept.py)."""
    atomic_write(path, _weights_writer(model, step))


def _weights_writer(model: GPT, step: int):
    weights = {k: v.detach().cpu().contiguous() for k, v in _stored(model).items()}
    meta = {"format": FORMAT, "step": str(step)}
    return lambda temp: save_file(weights, temp, metadata=meta)


def save_checkpoint(
    run_dir: Path,
    model: GPT,
    optimizer: torch.optim.Optimizer,
    state: TrainerState,
    rng_states: dict[str, torch.Tensor],
) -> Path:
    """Write optimizer.safetensors and model.safetensors as a pair (a kill at any moment leaves a
    whole pair: the last, or this one, see current_file); returns the model file's path."""
    meta = {"format": FORMAT, "step": str(state.step)}
    opt = optimizer.state_dict()
    tensors = {f"rng.{name}": value.contiguous() for name, value in rng_states.items()}
    for index, values in opt["state"].items():
        for name, value in values.items():
            tensors[f"state.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    opt_meta = {
        **meta,
        "param_groups": json.dumps(opt["param_groups"]),
        "trainer": json.dumps(asdict(state)),
    }
    atomic_write_pair([
        (run_dir / OPTIMIZER, lambda temp: save_file(tensors, temp, metadata=opt_meta)),
        (run_dir / MODEL, _weights_writer(model, state.step)),
    ])  # fmt: skip
    return run_dir / MODEL


def _stored(model: GPT) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint holds: the state dict, less the tied head's second name."""
    tied = model.config.tie_head
    return {k: v for k, v in model.state_dict().items() if not (tied and k == _TIED)}


def current_file(run_dir: Path, name: str) -> Path:
    """The file of the checkpoint pair to read as `name` (MODEL or OPTIMIZER): the file itself,
    or its pending copy where a kill came between the pair's renames. That copy is the pair's
    newer half when its partner, already renamed, holds the same step and the file does not."""
    path = run_dir / name
    pending = pending_path(path)
    if not pending.exists():
        return path
    partner = run_dir / (OPTIMIZER if name == MODEL else MODEL)
    step = _step_of(pending)
    if step is not None and step == _step_of(partner) != _step_of(path):
        return pending
    return path


def settle_checkpoint(run_dir: Path) -> None:
    """Finish a pair's rename that a kill interrupted, and drop a half-written pending copy: for
    the process that now owns the run's files (its worker), before it reads or writes them."""
    for name in (OPTIMIZER, MODEL):
        pending = pending_path(run_dir / name)
        with contextlib.suppress(OSError):  # unwritable: readers still take the right file
            if current_file(run_dir, name) == pending:
                os.replace(pending, run_dir / name)
            else:
                pending.unlink(missing_ok=True)


def _step_of(path: Path) -> int | None:
    """The step a checkpoint file says it is from; None where it cannot be read."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            meta = handle.metadata() or {}
        return int(meta["step"]) if meta.get("format") == FORMAT else None
    except (SafetensorError, OSError, ValueError, KeyError):
        return None


def _open_current(run_dir: Path, name: str):
    """_open on current_file; the file itself if the pending copy was renamed meanwhile."""
    path = current_file(run_dir, name)
    try:
        return path, *_open(path)
    except CheckpointError:
        if path == run_dir / name:
            raise
        return run_dir / name, *_open(run_dir / name)


def _open(path: Path):
    if not path.exists():
        raise CheckpointError(f"{path} is missing")
    try:
        handle = safe_open(str(path), framework="pt", device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is corrupt or truncated ({_short(error)})") from None
    meta = handle.metadata() or {}
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an llm-learns checkpoint")
    return handle, meta


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__


def _read(handle, path: Path, key: str) -> torch.Tensor:
    try:
        return handle.get_tensor(key)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path} is corrupt: tensor {key!r} ({_short(error)})") from None


def load_weights(run_dir: Path, model: GPT, path: Path | None = None) -> int:
    """Load model.safetensors (or `path`) into model, checking every name and shape; returns its
    step."""
    if path is None:
        path, handle, meta = _open_current(run_dir, MODEL)
    else:
        handle, meta = _open(path)
    expected = _stored(model)
    stored = set(handle.keys())
    if missing := sorted(expected.keys() - stored):
        raise CheckpointError(f"{path} does not match config.json: it lacks {missing[0]!r}")
    if extra := sorted(stored - expected.keys()):
        raise CheckpointError(f"{path} does not match config.json: unexpected tensor {extra[0]!r}")
    weights = {}
    for key, want in expected.items():
        tensor = _read(handle, path, key)
        if tensor.shape != want.shape:
            raise CheckpointError(
                f"{path} does not match config.json: {key} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(want.shape)}"
            )
        weights[key] = tensor
    model.load_state_dict(weights, strict=False)
    return int(meta.get("step", 0))


def load_training_state(
    run_dir: Path, optimizer: torch.optim.Optimizer, step: int
) -> tuple[TrainerState, dict[str, torch.Tensor]]:
    """Load optimizer.safetensors into optimizer; returns the trainer state and RNG states."""
    path, handle, meta = _open_current(run_dir, OPTIMIZER)
    if int(meta.get("step", -1)) != step:
        raise CheckpointError(
            f"{path} is from step {meta.get('step')} but {MODEL} is from step {step}"
        )
    try:
        groups = json.loads(meta["param_groups"])
        state = TrainerState(**json.loads(meta["trainer"]))
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path} has unreadable metadata ({error})") from None
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    rng: dict[str, torch.Tensor] = {}
    for key in handle.keys():
        kind, _, rest = key.partition(".")
        if kind == "rng":
            rng[rest] = _read(handle, path, key)
        elif kind == "state":
            index, _, name = rest.partition(".")
            per_param.setdefault(int(index), {})[name] = _read(handle, path, key)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, values in per_param.items():
        exp_avg = values.get("exp_avg")
        if index >= len(params) or (exp_avg is not None and exp_avg.shape != params[index].shape):
            raise CheckpointError(f"{path} does not match the model (parameter {index})")
    try:
        optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(f"{path} does not match the model ({_short(error)})") from None
    return state, rng
