"""Building a run's Trainer on a thread, so that its worker already answers clients (and shows them
how tokenising goes) while a big corpus goes into the token cache.

The worker does this only for a corpus bigger than SYNC_BYTES: a small one is tokenised before the
worker listens, so a bad corpus is still a one-line error from EngineClient.start.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine.contract.config import RunConfig
from engine.contract.events import TokenizeProgress
from engine.data.token_cache import Progress

# Tokenising this much takes seconds at most. The variable exists for tests of the threaded path.
SYNC_BYTES = int(os.environ.get("LLM_LEARNS_SYNC_CORPUS_BYTES", 16 << 20))
PUBLISH_S = 0.25  # the most often clients hear of progress


class Cancelled(Exception):
    """Raised inside the tokenising thread when the worker is told to stop."""


def prepare_in_background(corpus_bytes: int) -> bool:
    return corpus_bytes > SYNC_BYTES


class Preparation:
    """`build(progress)` running on its own thread; the worker polls it between requests."""

    def __init__(self, run_dir: Path, config: RunConfig, build: Callable[[Progress], object]):
        self.run_dir = run_dir
        self.config = config  # for status replies before the Trainer exists
        self.latest: TokenizeProgress | None = None
        self._published: TokenizeProgress | None = None
        self._published_at = 0.0
        self._cancel = threading.Event()
        self._result: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(build,), name="prepare", daemon=True
        )
        self._thread.start()

    def _run(self, build: Callable[[Progress], object]) -> None:
        try:
            self._result = build(self._progress)
        except BaseException as error:  # handed to the worker's thread by result()
            self._error = error

    def _progress(self, event: TokenizeProgress) -> None:
        if self._cancel.is_set():
            raise Cancelled
        self.latest = event  # one reference assignment: safe to read from the worker's thread

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def news(self) -> TokenizeProgress | None:
        """The latest progress, if clients have not heard it and were last told PUBLISH_S ago."""
        latest, now = self.latest, time.monotonic()
        if latest is None or latest is self._published:
            return None
        stage_changed = self._published is None or latest.stage != self._published.stage
        if not stage_changed and now - self._published_at < PUBLISH_S and not self.done:
            return None
        self._published, self._published_at = latest, now
        return latest

    def result(self):
        """The Trainer once built; raises what building it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    def cancel(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop at its next chunk and wait a little for it."""
        self._cancel.set()
        self._thread.join(timeout)
