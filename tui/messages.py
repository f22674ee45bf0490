"""App-wide messages: what the event-reader worker and request workers post to the UI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class EventsReceived(Message):
    """A batch of engine events, in order (replayed history arrives as a few large batches)."""

    events: list[Any]


@dataclass
class EventStreamClosed(Message):
    """The client's event iterator ended; `error` is a one-line reason when it raised."""

    error: str | None = None


@dataclass
class Connected(Message):
    """connect() or start_new() returned a client."""

    client: Any


@dataclass
class ConnectFailed(Message):
    """connect() or start_new() raised an EngineError; `message` is its one line."""

    message: str
