"""App-wide messages: what the event-reader worker and request workers post to the UI."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from engine import Event, RunClient


@dataclass
class EventsReceived(Message):
    """A batch of engine events, in order (replayed history arrives as a few large batches)."""

    client: RunClient  # whose events: a replaced run's tail is ignored
    events: list[Event]


@dataclass
class EventStreamClosed(Message):
    """The client's event iterator ended; `error` is a one-line reason when it raised."""

    client: RunClient
    error: str | None = None


@dataclass
class Connected(Message):
    """connect() or start_new() returned a client."""

    client: RunClient


@dataclass
class ConnectFailed(Message):
    """connect() or start_new() raised an EngineError; `message` is its one line."""

    message: str
