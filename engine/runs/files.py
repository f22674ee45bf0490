"""The run directory: config, tokenizer, weights, optimizer state and the append-only event log.

    runs/<name>/config.json  tokenizer.json  model.safetensors  optimizer.safetensors  events.jsonl

Every file except the log is replaced atomically (temp file, fsync, rename), so a crash or Ctrl-C
mid-write leaves the previous good file in place; the checkpoint's model and optimizer go as a
pair (atomic_write_pair); the log only ever keeps whole lines. A failed
write raises WriteError with the OS's reason. Everything is owner-only (files 0600, folders 0700).
Weights and optimizer state are safetensors: nothing here is ever unpickled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from engine.contract.codec import LINE_START
from engine.contract.config import RunConfig
from engine.contract.errors import CheckpointError, ConfigError, WriteError
from engine.contract.events import EVENT_TYPES, Event

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
MODEL = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
EVENTS = "events.jsonl"
INFO_FILE = "worker.json"  # while a worker runs: its pid and socket address
KEY_FILE = "worker.key"  # while a worker runs: the socket's auth key
LOG_FILE = "worker.log"  # the worker's stderr: its warnings, and why it ended if it failed
RUNS_ROOT = Path("runs")
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600  # a run's files are its owner's alone
TAIL_BLOCK = 1 << 16
log = logging.getLogger(__name__)


def new_run_dir(preset: str, root: Path = RUNS_ROOT) -> Path:
    """A fresh, not yet created, path like runs/seed-20261125-142501."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / f"{preset}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{preset}-{stamp}-{n}"
    return path


def write_error(path: Path, error: OSError) -> WriteError:
    """The one-line WriteError for a failed write: the path and the OS's reason."""
    return WriteError(f"cannot write {path}: {error.strerror or error}")


def as_write_error(path: Path, error: BaseException) -> WriteError | None:
    """write_error for an I/O failure of any kind (safetensors reports Rust's io::Error as text),
    or None if `error` is not one."""
    if isinstance(error, OSError):
        return write_error(path, error)
    if match := re.search(r"os error (\d+)", str(error)):
        return WriteError(f"cannot write {path}: {os.strerror(int(match[1]))}")
    return None


def atomic_write(path: Path, write) -> None:
    """Call write(temp_path), then move the temp file over path in one rename.

    The temp file is owner-only (mkstemp) and so, after the rename, is path; a new folder is 0700.
    A failed write raises WriteError with the OS's reason and leaves the old file in place.
    """
    try:
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        _write_synced(path, temp, write)
        _rename(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


def pending_path(path: Path) -> Path:
    """Where atomic_write_pair writes `path` before renaming it into place."""
    return path.with_name(f".{path.name}.pending")


def atomic_write_pair(files: list[tuple[Path, Callable[[str], object]]]) -> None:
    """atomic_write for files that belong together (a checkpoint's model and optimizer), by the
    one process that writes them (a run's worker).

    Each file is written and synced to its pending_path before the first rename, so a kill while
    writing leaves the old pair whole. Two renames cannot be one: a kill between them leaves the
    first file new and the second's complete pending copy beside its old self. Readers then take
    that copy for the file, and the run's next worker finishes the rename (training/checkpoint.py).
    """
    pending = [(pending_path(path), path, write) for path, write in files]
    renamed = 0
    try:
        for temp, path, write in pending:
            try:
                path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
                # A new file, not the old one truncated: a reader may hold the old one open.
                temp.unlink(missing_ok=True)
                os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
            except OSError as error:
                raise write_error(path, error) from None
            _write_synced(path, str(temp), write)
        for temp, path, _ in pending:
            _rename(str(temp), path)
            renamed += 1
    finally:
        if not renamed:  # once one is renamed, the others' copies are the pair's newer half
            for temp, _, _ in pending:
                temp.unlink(missing_ok=True)


def _write_synced(path: Path, temp: str, write: Callable[[str], object]) -> None:
    try:
        write(temp)
        with open(temp, "rb+") as file:
            os.fsync(file.fileno())
    except BaseException as error:
        if failure := as_write_error(path, error):
            raise failure from None
        raise


def _rename(temp: str, path: Path) -> None:
    try:
        os.replace(temp, path)
    except OSError as error:
        raise write_error(path, error) from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"))


def last_error(run_dir: Path) -> str | None:
    """The one-line reason a worker gave for failing ("error: ..." in worker.log), if any."""
    try:
        with (run_dir / LOG_FILE).open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - TAIL_BLOCK))
            lines = file.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    return errors[-1] if errors else None


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
    """Appends events to events.jsonl, one JSON line each, written at once so readers see them.

    The log only ever holds whole lines: opening it cuts off a torn last line (from a write that a
    crash or a full disk cut short) rather than gluing the next event onto it, and a failed append
    is cut back off before WriteError is raised.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / EVENTS
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
        except OSError as error:
            raise write_error(self.path, error) from None
        try:
            os.fchmod(self._fd, PRIVATE_FILE)  # an older run's log may be world-readable
            self._size = _cut_torn_tail(self._fd, self.path)
        except OSError as error:
            os.close(self._fd)
            raise write_error(self.path, error) from None

    def append(self, event: Event) -> None:
        data = (event.to_json() + "\n").encode()
        try:
            written = 0
            while written < len(data):  # a write may be short just before a size limit
                written += os.write(self._fd, data[written:])
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise write_error(self.path, error) from None
        self._size += len(data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _cut_torn_tail(fd: int, path: Path) -> int:
    """Truncate the file after its last line break; returns the new size."""
    size = end = os.fstat(fd).st_size
    while end > 0:
        start = max(0, end - TAIL_BLOCK)
        block = os.pread(fd, end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end < size:
        os.ftruncate(fd, end)
        log.warning("warning: %s: dropped a torn last line (%d bytes)", path, size - end)
    return end


def whole_event(line: bytes) -> bool:
    """A cheap check that a line is one event as Record.to_json writes it ("kind" first).

    JSON escapes every quote inside a string, so '{"kind":' starts an event and occurs nowhere
    else: a line glued onto a torn one (written before logs were repaired on open) has two, or
    does not start with it.
    """
    return line.startswith(LINE_START) and line.find(LINE_START, 1) < 0


def unreadable(path: Path, error: OSError) -> CheckpointError:
    """The one line for a run file that is there but cannot be read (a folder, no permission)."""
    return CheckpointError(f"{path} cannot be read: {error.strerror or error}")


def read_events(run_dir: Path) -> Iterator[Event]:
    """Replay events.jsonl. A torn last line (a crash mid-write, or a write still under way) is
    left out; a line that is not an event is skipped with a warning, never fatal. A log that
    cannot be read (a folder, no permission, an I/O error) is a CheckpointError naming it."""
    path = run_dir / EVENTS
    if not path.exists():
        return
    skipped = 0
    try:
        with path.open("r", encoding="utf-8", errors="replace") as file:
            for line in file:
                if not line.endswith("\n"):
                    break
                try:
                    event = EVENT_TYPES.from_json(line)
                except ValueError:
                    skipped += 1
                    continue
                yield event
    except OSError as error:
        raise unreadable(path, error) from None
    if skipped:
        warn_skipped(run_dir, skipped)


def read_events_after(run_dir: Path, offset: int = 0) -> tuple[list[Event], int]:
    """The events written to events.jsonl past byte `offset`, and the offset after the last of
    them: read again from there to follow a run that is still writing (a torn last line, a
    write under way, waits for the next read). Lines that are not events are skipped."""
    path = run_dir / EVENTS
    events: list[Event] = []
    skipped = 0
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return events, offset
    with file:
        file.seek(offset)
        for line in file:
            if not line.endswith(b"\n"):
                break
            offset += len(line)
            try:
                events.append(EVENT_TYPES.from_json(line.decode("utf-8", errors="replace")))
            except (ValueError, TypeError):
                skipped += 1
    if skipped:
        warn_skipped(run_dir, skipped)
    return events, offset


def warn_skipped(run_dir: Path, count: int) -> None:
    log.warning(
        "warning: %s: skipped %d line(s) that are not whole events", run_dir / EVENTS, count
    )
