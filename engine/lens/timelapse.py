"""The time-lapse: what is stored at every eval to scrub through, in runs/<name>/attention/.

Per step, the probe text's attention (step-N.attn: a JSON header line, then the float32 weights
raw), the logit lens on the probe (step-N.lens) and the embedding map (step-N.map), each JSON.
Runs from before the lens and the map have only the attention.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

from engine.contract.codec import dump_json, load_json
from engine.contract.errors import CheckpointError
from engine.contract.outputs import AttentionMap
from engine.contract.snapshots import EmbeddingMap, LogitLens
from engine.runs.files import atomic_write

FOLDER = "attention"
LENS, MAP = "lens", "map"  # the suffixes of the logit lens's and the embedding map's files
R = TypeVar("R", LogitLens, EmbeddingMap)


def _path(run_dir: Path, step: int, suffix: str = "attn") -> Path:
    return run_dir / FOLDER / f"step-{step:08d}.{suffix}"


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


def save_lens(run_dir: Path, lens: LogitLens) -> None:
    _save_json(_path(run_dir, lens.step, LENS), lens)


def load_lens(run_dir: Path, step: int) -> LogitLens:
    return _load_json(_path(run_dir, step, LENS), LogitLens, "logit lens")


def save_map(run_dir: Path, embedding_map: EmbeddingMap) -> None:
    _save_json(_path(run_dir, embedding_map.step, MAP), embedding_map)


def load_map(run_dir: Path, step: int) -> EmbeddingMap:
    return _load_json(_path(run_dir, step, MAP), EmbeddingMap, "embedding map")


def latest_map(run_dir: Path, step: int) -> EmbeddingMap | None:
    """The last embedding map stored at or before `step`, if any (a resumed run's map turns to
    agree with it)."""
    for earlier in reversed(snapshot_steps(run_dir)):
        if earlier <= step and _path(run_dir, earlier, MAP).exists():
            try:
                return load_map(run_dir, earlier)
            except CheckpointError:
                return None
    return None


def _save_json(path: Path, value: LogitLens | EmbeddingMap) -> None:
    data = dump_json(value).encode()
    atomic_write(path, lambda temp: Path(temp).write_bytes(data))


def _load_json(path: Path, cls: type[R], what: str) -> R:
    try:
        return load_json(cls, path.read_bytes())
    except FileNotFoundError:
        step = int(path.name.removeprefix("step-").partition(".")[0])
        raise CheckpointError(f"no {what} stored at step {step}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path} is corrupt ({error})") from None
