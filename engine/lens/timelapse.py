"""The attention time-lapse: the probe text's attention, stored at every eval to scrub through.

One file per step in runs/<name>/attention/: a JSON header line, then the float32 weights raw.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import asdict
from pathlib import Path

from engine.contract.errors import CheckpointError
from engine.contract.outputs import AttentionMap
from engine.runs.files import atomic_write

FOLDER = "attention"


def _path(run_dir: Path, step: int) -> Path:
    return run_dir / FOLDER / f"step-{step:08d}.attn"


def save_snapshot(run_dir: Path, attention: AttentionMap) -> None:
    header = {k: v for k, v in asdict(attention).items() if k != "weights"}
    data = json.dumps(header, ensure_ascii=False).encode() + b"\n" + attention.weights.tobytes()
    atomic_write(_path(run_dir, attention.step), lambda temp: Path(temp).write_bytes(data))


def snapshot_steps(run_dir: Path) -> list[int]:
    steps = []
    for path in (run_dir / FOLDER).glob("step-*.attn"):
        try:
            steps.append(int(path.stem.removeprefix("step-")))
        except ValueError:
            continue
    return sorted(steps)


def load_snapshot(run_dir: Path, step: int) -> AttentionMap:
    path = _path(run_dir, step)
    try:
        header_line, raw = path.read_bytes().split(b"\n", 1)
        header = json.loads(header_line)
        weights = array("f")
        weights.frombytes(raw)
        n_layer, n_head, T, _ = header["shape"]
        if len(weights) != n_layer * n_head * T * T:
            raise ValueError("size does not match its shape")
        return AttentionMap(**{**header, "shape": tuple(header["shape"]), "weights": weights})
    except FileNotFoundError:
        raise CheckpointError(f"no attention snapshot at step {step}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path} is corrupt ({error})") from None
