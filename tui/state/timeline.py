"""Values by step, asked "as it stood at step N": what a replayed step shows (tui/state/replay.py).

Memory stays bounded on a run of any length: past `limit` entries, every other one of the older
half is dropped, so the further back, the coarser (as the loss history merges its old points).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Generic, TypeVar

T = TypeVar("T")
LIMIT = 20_000


class Timeline(Generic[T]):
    """Items in step order; `at(step)` is the last one at or before a step."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.steps: list[int] = []
        self.items: list[T] = []

    def __len__(self) -> int:
        return len(self.steps)

    def add(self, step: int, item: T) -> None:
        if self.steps and step <= self.steps[-1]:
            self.clear_from(step)  # a resumed run restarts from its checkpoint's step
        self.steps.append(step)
        self.items.append(item)
        if len(self.steps) > self.limit:
            half = len(self.steps) // 2
            self.steps[:half] = self.steps[:half:2]
            self.items[:half] = self.items[:half:2]

    def clear_from(self, step: int) -> None:
        keep = bisect_left(self.steps, step)
        del self.steps[keep:], self.items[keep:]

    def at(self, step: int) -> T | None:
        """The last item at or before `step` (None if there is none)."""
        index = bisect_right(self.steps, step)
        return self.items[index - 1] if index else None

    def until(self, step: int, count: int) -> list[T]:
        """The last `count` items at or before `step`, in order."""
        end = bisect_right(self.steps, step)
        return self.items[max(0, end - count) : end]

    @property
    def last(self) -> T | None:
        return self.items[-1] if self.items else None
