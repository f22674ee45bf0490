"""App-wide messages: what the event-reader worker posts to the UI, and what any widget may ask
of the app."""

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


@dataclass
class LearnAsked(Message):
    """Show the glossary entry under `heading` (a tui/glossary.md heading): what a widget, view or
    screen posts; the app decides where (the Learn view, or a dialog over the New-run form)."""

    heading: str
