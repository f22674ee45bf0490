"""The run directory: config, tokenizer, weights, optimizer state and the append-only event log.

    runs/<name>/config.json  tokenizer.json  model.safetensors  optimizer.safetensors  events.jsonl

Every file except the log is replaced atomically (temp file, fsync, rename), so a crash or Ctrl-C
mid-write leaves the previous good file in place. Weights and optimizer state are safetensors:
nothing here is ever unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from engine.config import RunConfig
from engine.errors import CheckpointError, ConfigError
from engine.events import EVENT_TYPES, Event

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
MODEL = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
EVENTS = "events.jsonl"
RUNS_ROOT = Path("runs")


def new_run_dir(preset: str, root: Path = RUNS_ROOT) -> Path:
    """A fresh, not yet created, path like runs/seed-20261125-142501."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / f"{preset}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{preset}-{stamp}-{n}"
    return path


def atomic_write(path: Path, write) -> None:
    """Call write(temp_path), then move the temp file over path in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(temp)
        with open(temp, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))


def load_config(run_dir: Path) -> RunConfig:
    path = run_dir / CONFIG
    try:
        return RunConfig.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: {run_dir} is not a run directory") from None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error})") from None
    except ConfigError as error:
        raise CheckpointError(f"{path} holds an invalid config: {error}") from None


class EventLog:
    """Appends events to events.jsonl, one JSON line each, flushed so readers see them at once."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / EVENTS
        self._file = self.path.open("a", encoding="utf-8")

    def append(self, event: Event) -> None:
        self._file.write(event.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_events(run_dir: Path) -> Iterator[Event]:
    """Replay events.jsonl; a torn last line (a crash mid-write) is skipped, not fatal."""
    path = run_dir / EVENTS
    if not path.exists():
        return
    with path.open("r", encoding="utf-8", errors="replace") as file:
        for line in file:
            if not line.endswith("\n"):
                break
            try:
                yield EVENT_TYPES.from_json(line)
            except (ValueError, TypeError, json.JSONDecodeError):
                continue
