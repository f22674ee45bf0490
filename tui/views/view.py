"""The base of the views: the keyboard rule every view follows, and how a view asks the engine.

Entering a view gives the keyboard to a widget that types nothing (`focus_main`): 1-6, q, ? and
the view's own keys work at once. A view with a text field (`INPUT`) hands the keyboard to it on
enter or /, or when the field is clicked; there every printable key types, and escape gives the
keyboard back to the view.

A view asks the engine with `ask(request, answered, failed)`: the request runs in a thread, so the
UI never waits on it, and the answer (or the failure's one line) comes back on the UI's thread.

While the run is replayed, every view shows the step of the app's one replay clock
(tui/state/replay.py): `at_step` is that step (None while live), and `replay_moved` says it
changed. A view shows what it showed at that step, and asks the engine `at_step=` it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input
from textual.worker import get_current_worker

from engine import Event, RunClient, SampleConfig
from tui.format import one_line
from tui.screens.help import ViewHelp
from tui.state.replay import ReplayClock

T = TypeVar("T")


class View(Vertical):
    """Base of the views; subclasses set HELP and INPUT, and define focus_main()."""

    HELP: ViewHelp
    INPUT: str | None = None  # selector of the text field that enter and / focus
    # Whether ←/→ reach the app's replay keys here (by eval); a view that takes them for itself
    # leaves < and > to the replay.
    REPLAY_ARROWS = False
    BINDINGS = [
        Binding("slash", "focus_input", "Type"),
        Binding("enter", "focus_input", "Type", show=False),
        Binding("escape", "leave_input", "Leave input"),
    ]

    @dataclass
    class Replied(Message, bubble=False):
        """What a request's thread hands back: the answer's (or failure's) handler, bound."""

        deliver: Callable[[], None]

    client: RunClient | None = None
    clock: ReplayClock | None = None  # the app's replay clock, the same for every view

    @classmethod
    def build(cls, sample: SampleConfig | None, **kwargs: Any) -> View:
        """The view for a run with these sample settings (a view that shows a text starts with
        the run's prompt or probe)."""
        return cls(**kwargs)

    def set_client(self, client: RunClient) -> None:
        """The run is connected: requests go to `client` from now on."""
        self.client = client

    def ingest(self, events: list[Event]) -> None:
        """A batch of engine events, in order (every view gets every batch)."""

    @property
    def at_step(self) -> int | None:
        """The replayed step the view shows, or None while it shows the run live."""
        return self.clock.step if self.clock is not None else None

    def replay_moved(self) -> None:
        """The replay clock moved to another step, or back to live (`at_step` None)."""

    def entered(self) -> None:
        """The view was switched to: a view showing a request's answer may ask again here."""

    def focus_main(self) -> None:
        """Give the keyboard to the view's main widget, never a text field."""
        raise NotImplementedError

    @property
    def showing(self) -> bool:
        """Whether the view is on screen (a view not switched to is in a pane that is off)."""
        return all(node.display for node in self.ancestors_with_self if hasattr(node, "display"))

    def ask(
        self,
        request: Callable[[RunClient], T],
        answered: Callable[[T], Any],
        failed: Callable[[str], Any],
        *,
        group: str,
    ) -> bool:
        """Run `request(client)` in a thread; then `answered(its result)` or `failed(one line)`.

        A newer ask of the same group supersedes this one: its answer is dropped. Returns False,
        asking nothing, while no run is connected."""
        client = self.client
        if client is None:
            return False

        def run() -> None:
            try:
                reply = request(client)
            except Exception as error:  # noqa: BLE001 - a dead engine is shown, never raised
                deliver = partial(failed, one_line(error))
            else:
                deliver = partial(answered, reply)
            if not get_current_worker().is_cancelled:
                self.post_message(self.Replied(deliver))

        self.run_worker(run, group=group, exclusive=True, thread=True, exit_on_error=False)
        return True

    @on(Replied)
    def _replied(self, message: Replied) -> None:
        message.deliver()

    @property
    def typing(self) -> bool:
        """Whether a text field of this view has the keyboard."""
        focused = self.app.focused
        return isinstance(focused, Input) and self in focused.ancestors

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_input":
            return self.INPUT is not None and not self.typing
        if action == "leave_input":
            return self.typing
        return True

    def action_focus_input(self) -> None:
        if self.INPUT is not None:
            field = self.query_one(self.INPUT, Input)
            field.focus()
            field.cursor_position = len(field.value)

    def action_leave_input(self) -> None:
        self.focus_main()
