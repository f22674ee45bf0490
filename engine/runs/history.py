"""A run's history read fast: replayed to a client in brief, and summed up without replaying it.

events.jsonl gains a step event per logged step, so a long run's history is mostly steps: a
million of them is 170 MB, and decoding every one takes a client longer than the user will wait.
`Replay` sends every event as it is except the older step events, which it merges in runs of
consecutive steps (StepCompleted.merged): at most RECENT + OLDER_POINTS step events reach a client,
which is still more than a chart can draw. Step lines are read without decoding them as JSON.
Training statistics (a few kB each, every stats_every steps) are thinned alike, by keeping every
k-th of the older ones: statistics of different steps do not average into one step's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

from engine.contract.codec import LINE_START, line_prefix
from engine.contract.events import (
    EngineFailed,
    Event,
    StepCompleted,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
    TrainingStats,
    event_from_json,
)
from engine.contract.run_state import RunState, advance
from engine.runs.files import EVENTS, unreadable, warn_skipped, whole_event

RECENT = 10_000  # the newest step events, replayed as they are
OLDER_POINTS = 10_000  # the older ones, merged into at most this many
RECENT_STATS = 1_000  # the newest training-statistics events, replayed as they are
OLDER_STATS = 1_000  # the older ones, thinned to at most this many
BATCH_BYTES = 1 << 20
READ_BYTES = 1 << 24
STEP = line_prefix(StepCompleted.kind)
STARTED = line_prefix(TrainingStarted.kind)
STATS = line_prefix(TrainingStats.kind)
# The events that set a run's state (engine/contract/run_state.py): the last of them decides it.
STATE_LINES = tuple(
    line_prefix(cls.kind)
    for cls in (TrainingStarted, TrainingResumed, TrainingPaused, TrainingFinished, EngineFailed)
)


class Replay:
    """The history in batches of event lines, with `done_bytes` of `total_bytes` read after each.

    One None comes where the history ends: after the line that starts before `history_bytes`
    (the end of the file if None), so a client that started or resumed the run tells its past
    from what it caused; the lines after it follow as they are. `events` and `steps` count what
    the history sent and the step events it stands for; `skipped` the damaged lines left out.
    """

    def __init__(
        self,
        run_dir: Path,
        history_bytes: int | None = None,
        recent: int = RECENT,
        older_points: int = OLDER_POINTS,
        recent_stats: int = RECENT_STATS,
        older_stats: int = OLDER_STATS,
    ):
        self.path = run_dir / EVENTS
        self.history_bytes = history_bytes
        self.recent, self.older_points = recent, older_points
        self.recent_stats, self.older_stats = recent_stats, older_stats
        self.total_bytes = self.done_bytes = 0
        self.events = self.steps = self.skipped = 0
        self._past = True  # the lines read so far are the history

    def __iter__(self) -> Iterator[bytes | None]:
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            yield None
            return
        with file:
            self.total_bytes = file.seek(0, 2)
            steps, stats = _count_lines(file, (STEP, STATS))
            older = max(0, steps - self.recent)
            run = 1 if older <= self.older_points else math.ceil(older / self.older_points)
            older_stats = max(0, stats - self.recent_stats)
            stride = (
                1 if older_stats <= self.older_stats else math.ceil(older_stats / self.older_stats)
            )
            file.seek(0)
            out: list[bytes] = []
            merging = _Merge()
            index = stats_index = 0  # of the step and statistics lines read so far
            size = reported = skipped = 0
            for line in file:
                if self._past and self.history_bytes is not None:
                    if self.done_bytes >= self.history_bytes:  # this line starts after the past
                        if merged := merging.flush():
                            out.append(merged)
                        if out:
                            yield self._batch(out)
                            out, size, reported = [], 0, self.done_bytes
                        self._past = False
                        older = older_stats = 0  # what follows the past is sent as it is
                        yield None
                self.done_bytes += len(line)
                if not line.endswith(b"\n"):
                    continue  # a torn last line: the writer cuts it when it next opens the log
                if not whole_event(line):
                    skipped += 1  # a damaged line, or one glued onto a torn one: never replayed
                    continue
                if line.startswith(STEP):
                    self.steps += self._past
                    index += 1
                    if index <= older and run > 1:
                        if merged := merging.add(line, run):
                            out.append(merged)
                            size += len(merged)
                        if self.done_bytes - reported >= READ_BYTES and out:
                            yield self._batch(out)
                            out, size, reported = [], 0, self.done_bytes
                        continue
                elif line.startswith(STATS):
                    stats_index += 1
                    if stats_index <= older_stats and stats_index % stride:
                        if self.done_bytes - reported >= READ_BYTES and out:
                            yield self._batch(out)
                            out, size, reported = [], 0, self.done_bytes
                        continue  # thinned out
                elif line.startswith(STARTED) and (merged := merging.flush()):
                    out.append(merged)  # a resumed run's steps start again from its checkpoint
                out.append(line)
                size += len(line)
                # A batch goes out when it is big, or when much was read for it (merged steps
                # are small), so that the client's "loading history n%" moves.
                if size >= BATCH_BYTES or self.done_bytes - reported >= READ_BYTES:
                    yield self._batch(out)
                    out, size, reported = [], 0, self.done_bytes
            if merged := merging.flush():
                out.append(merged)
            if out:
                yield self._batch(out)
            self.skipped = skipped
            if skipped:
                warn_skipped(self.path.parent, skipped)
            if self._past:
                yield None

    def _batch(self, lines: list[bytes]) -> bytes:
        if self._past:
            self.events += len(lines)
        return b"".join(lines)


class _Merge:
    """Consecutive step lines merged into one: the mean loss and gradient norm, the last step."""

    def __init__(self) -> None:
        self.count, self.loss, self.grad_norm = 0, 0.0, 0.0
        self.last = b""

    def add(self, line: bytes, run: int) -> bytes | None:
        loss, grad_norm = _number(line, b'"loss":'), _number(line, b'"grad_norm":')
        if loss is None or grad_norm is None:  # written some other way: decode it properly
            event = event_from_json(line)
            assert isinstance(event, StepCompleted)
            loss, grad_norm = event.loss, event.grad_norm
        self.count += 1
        self.loss += loss
        self.grad_norm += grad_norm
        self.last = line
        return self.flush() if self.count >= run else None

    def flush(self) -> bytes | None:
        if not self.count:
            return None
        last = event_from_json(self.last)
        assert isinstance(last, StepCompleted)
        merged = StepCompleted(
            step=last.step,
            loss=self.loss / self.count,
            lr=last.lr,
            grad_norm=self.grad_norm / self.count,
            tokens_per_s=last.tokens_per_s,
            elapsed_s=last.elapsed_s,
            tokens_seen=last.tokens_seen,
            merged=self.count,
        )
        self.count, self.loss, self.grad_norm = 0, 0.0, 0.0
        return (merged.to_json() + "\n").encode()


def _number(line: bytes, key: bytes) -> float | None:
    """The number after `key` in a step line (no string in it can hold a quote), else None."""
    start = line.find(key)
    if start < 0:
        return None
    start += len(key)
    end = line.find(b",", start)
    try:
        value = float(line[start : end if end > 0 else line.rfind(b"}")])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _count_lines(file, starts: tuple[bytes, ...]) -> list[int]:
    """How many lines start with each of `starts`, read in large blocks without splitting lines."""
    markers = [b"\n" + start for start in starts]
    counts = [0] * len(markers)
    keep = max(len(marker) for marker in markers) - 1
    file.seek(0)
    tail = b"\n"  # the file's first line starts a line too
    while block := file.read(READ_BYTES):
        chunk = tail + block
        for i, marker in enumerate(markers):
            # A marker ending in the kept tail was counted with the chunk before.
            counts[i] += chunk.count(marker) - tail.count(marker)
        tail = chunk[-keep:]
    return counts


def last_state(run_dir: Path) -> RunState:
    """The state the history leaves the run in, read from its end: the last event that sets a
    state decides it (advance ignores the state before), so a long history costs nothing here."""
    for line in lines_from_end(run_dir / EVENTS):
        if line.startswith(STATE_LINES):
            try:
                return advance(RunState.STARTING, event_from_json(line))
            except (ValueError, TypeError):
                continue
    return RunState.STARTING


def lines_from_end(path: Path, block: int = 1 << 16) -> Iterator[bytes]:
    """The file's whole lines, last first (a torn last line is left out)."""
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as error:
        raise unreadable(path, error) from None
    with file:
        end = file.seek(0, 2)
        rest = b""
        first = True
        while end > 0:
            start = max(0, end - block)
            file.seek(start)
            chunk = file.read(end - start) + rest
            end = start
            lines = chunk.split(b"\n")
            rest = lines.pop(0) if start > 0 else b""
            if first:
                lines.pop()  # after the last line break: empty, or a torn line
                first = False
            for line in reversed(lines):
                if line.startswith(LINE_START):
                    yield line
        if rest.startswith(LINE_START):
            yield rest


def events_of_kinds(run_dir: Path, kinds: tuple[type[Event], ...]) -> Iterator[Event]:
    """The events of these classes in events.jsonl, in order; every other line is left unread."""
    prefixes = tuple(line_prefix(cls.kind) for cls in kinds)
    try:
        file = (run_dir / EVENTS).open("rb")
    except FileNotFoundError:
        return
    with file:
        for line in file:
            if line.startswith(prefixes) and line.endswith(b"\n"):
                try:
                    yield event_from_json(line)
                except (ValueError, TypeError):
                    continue


def read_json_lines(path: Path, prefixes: tuple[bytes, ...]) -> Iterator[dict]:
    """The JSON of the whole lines that start with one of `prefixes`, in order; others unread.
    A file that is there but cannot be read is a CheckpointError naming it."""
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as error:
        raise unreadable(path, error) from None
    with file:
        for line in file:
            if line.startswith(prefixes) and line.endswith(b"\n"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue
