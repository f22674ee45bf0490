"""The token cache's folder: where it is, one lock per entry, and listing and clearing entries.

An entry is named <corpus digest>-<tokenizer> (see token_cache.py); whoever holds its lock
(<entry>.lock, flock) is the only process building it, so two runs on the same new corpus tokenise
it once: the second waits and then reads the first one's files. The kernel drops a lock when its
process dies, SIGKILL included, so a lock is never stale, and the temp files a killed build left
(.<entry>.*.tmp) are removed by the next process to take that entry's lock. A lock file lives
only while its entry is being built.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.contract.errors import WriteError
from engine.runs.files import PRIVATE_DIR, PRIVATE_FILE, write_error

LOCK_POLL_S = 0.1  # how often a process waiting for another's build looks again
LOCK, TEMP = ".lock", ".tmp"
log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/llm-learns/tokens, or ~/.cache/... (a relative XDG path is ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "llm-learns" / "tokens"


def private_dir() -> Path:
    """The cache folder, created owner-only if need be; WriteError if it cannot be."""
    folder = cache_dir()
    try:
        folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        folder.chmod(PRIVATE_DIR)
    except OSError as error:
        raise write_error(folder, error) from None
    return folder


@contextlib.contextmanager
def entry_lock(entry: str, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold `entry`'s lock; while another process holds it, call waiting() (which may raise to
    give up) every LOCK_POLL_S. Once held, the entry's leftover temp files are removed."""
    path = private_dir() / f"{entry}{LOCK}"
    fd = _acquire(path, waiting)
    try:
        remove_temps(entry)
        yield
    finally:
        # Removed while held, so the cache keeps no lock files: a process waiting on this one
        # finds it gone once it has it, and locks a new one (see _acquire).
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _acquire(path: Path, waiting: Callable[[], None] | None) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        except OSError as error:
            raise write_error(path, error) from None
        try:
            if not _lock(fd, path, waiting):
                return fd  # a filesystem without locks: build unlocked, as before locks
            # Its holder (or `cache --clear`) may have removed it while we waited: lock the one in
            # place.
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _lock(fd: int, path: Path, waiting: Callable[[], None] | None) -> bool:
    """Block (politely) until fd is locked; False where the filesystem cannot lock at all."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if waiting is not None:
                waiting()
            time.sleep(LOCK_POLL_S)
        except OSError as error:
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise write_error(path, error) from None
            log.warning("warning: %s cannot be locked (%s)", path, error.strerror)
            return False


def try_lock(entry: str) -> int | None:
    """The entry's lock if nobody holds it (an fd to close), else None: for clearing."""
    path = cache_dir() / f"{entry}{LOCK}"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def remove_temps(entry: str) -> None:
    """Delete the temp files of `entry` (call with its lock held: nobody else is writing them)."""
    for temp in cache_dir().glob(f".{entry}.*{TEMP}"):
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
            log.warning("warning: removed %s, left by a build that was cut short", temp.name)


def entry_of(path: Path) -> str:
    """The entry a cache file belongs to: a.tokens, a.json, .a.tokens.x1.tmp and a.lock -> a."""
    name = path.name
    if name.startswith(".") and name.endswith(TEMP):
        name = name[1:].rsplit(".", 2)[0]  # .<file name>.<random>.tmp
    return name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class Entry:
    """One corpus under one tokenizer in the cache, as `llmlearns-tui cache` lists it."""

    name: str
    files: tuple[Path, ...]
    size: int  # bytes on disk, temp files included
    used_s: float  # seconds since it was last written or read
    kind: str  # the tokenizer's kind, or "" if its description says nothing
    tokens: int | None  # how many tokens, if this entry holds token ids
    source: str  # the corpus it was made from, as it was named then ("" if unknown)
    partial: bool  # temp files only, or no description: a build that was cut short


def list_entries() -> list[Entry]:
    """Every entry in the cache, most recently used first."""
    folder = cache_dir()
    if not folder.is_dir():
        return []
    groups: dict[str, list[Path]] = {}
    for path in folder.iterdir():
        if path.is_file() and not path.name.endswith(LOCK):
            groups.setdefault(entry_of(path), []).append(path)
    now = time.time()
    return sorted(
        (_describe(name, sorted(paths), now) for name, paths in groups.items()),
        key=lambda entry: entry.used_s,
    )


def _describe(name: str, paths: list[Path], now: float) -> Entry:
    stats = {path: path.stat() for path in paths}
    meta: dict = {}
    description = next((p for p in paths if p.name == f"{name}.json"), None)
    if description is not None:
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads(description.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        meta = {}
    tokenizer = name.endswith(".tokenizer")
    whole = [p for p in paths if not p.name.endswith(TEMP)]
    return Entry(
        name=name,
        files=tuple(paths),
        size=sum(s.st_size for s in stats.values()),
        used_s=now - max(max(s.st_mtime, s.st_atime) for s in stats.values()),
        kind=str(meta.get("kind") or (name.rsplit("-", 2)[-2] if tokenizer else "")),
        tokens=None if tokenizer else _count(meta),
        source=str(meta.get("source") or ""),
        partial=not whole or (not tokenizer and not meta),
    )


def _count(meta: dict) -> int | None:
    count = meta.get("count")
    return count if isinstance(count, int) else None


def clear_entries() -> tuple[list[Entry], list[Entry]]:
    """Delete every entry nobody is building; returns (removed, kept because being built)."""
    removed, busy = [], []
    for entry in list_entries():
        fd = try_lock(entry.name)
        if fd is None:
            busy.append(entry)
            continue
        try:
            for path in entry.files:
                path.unlink(missing_ok=True)
            # Unlinked while held: a process that opened it meanwhile sees it is gone and retries.
            (cache_dir() / f"{entry.name}{LOCK}").unlink(missing_ok=True)
        except OSError as error:
            message = f"cannot remove {entry.name} from {cache_dir()}: {error.strerror}"
            raise WriteError(message) from None
        finally:
            os.close(fd)
        removed.append(entry)
    listed = {entry.name for entry in removed + busy}
    for lock in cache_dir().glob(f"*{LOCK}"):  # the locks of entries already gone
        if entry_of(lock) not in listed and (fd := try_lock(entry_of(lock))) is not None:
            lock.unlink(missing_ok=True)
            os.close(fd)
    return removed, busy
