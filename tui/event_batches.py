"""Engine events in batches, so replayed history and fast steps cost the event loop a few
messages, not one per step."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator

from textual.worker import Worker

from tui.format import one_line

_END = object()


def event_batches(
    events: Iterable, every_s: float, worker: Worker
) -> Iterator[tuple[list, bool, str | None]]:
    """Yield (batch, closed, error) every `every_s` seconds until the stream ends or the worker
    is cancelled; the last has closed=True and, if the stream broke, its one-line error.

    The iterator blocks, so a helper thread feeds a queue and a batch is flushed on time even
    when no new event comes (say, the tail of a replayed history)."""
    pending: queue.Queue = queue.Queue()

    def pump() -> None:
        try:
            for event in events:
                pending.put(event)
            pending.put(_END)
        except Exception as error:  # noqa: BLE001 - reported as a closed stream
            pending.put(error)

    threading.Thread(target=pump, name="engine-events", daemon=True).start()
    batch: list = []
    deadline = time.monotonic() + every_s
    while not worker.is_cancelled:
        try:
            item = pending.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            item = None
        if item is _END or isinstance(item, BaseException):
            error = one_line(item) if isinstance(item, BaseException) else None
            yield batch, True, error
            return
        if item is not None:
            batch.append(item)
        if time.monotonic() >= deadline:
            if batch:
                yield batch, False, None
                batch = []
            deadline = time.monotonic() + every_s
