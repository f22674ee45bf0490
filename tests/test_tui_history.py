"""A long history loading: the app answers keys meanwhile, says how far it has read, and shows the
run's state only once the history is in (a finished run's history passes through "running")."""

from __future__ import annotations

import threading

from engine import (
    FinishReason,
    HistoryProgress,
    HistoryReplayed,
    RunState,
    TrainingFinished,
)
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import make_app, settle
from tui.views.attention import AttentionView
from tui.widgets.shell.run_header import RunHeader
from tui.widgets.train.loss_chart import LossChart

STEPS = 20_000


class SlowHistory(FakeEngine):
    """A finished run's long history, sent as a worker replays it: batches, each followed by how
    far it has read; the last part waits until `go_on` is set."""

    def __init__(self) -> None:
        super().__init__(make_events(steps=STEPS, max_steps=STEPS, eval_every=1000), live=False)
        self._events.append(TrainingFinished(FinishReason.COMPLETED, STEPS))
        self.go_on = threading.Event()

    def events(self, history_bytes: int | None = None):
        total = len(self._events)
        half = total // 2
        for start in range(0, half, 2000):
            yield from self._events[start : min(start + 2000, half)]
            yield HistoryProgress(min(start + 2000, half), total)
        self.go_on.wait(10)
        yield from self._events[half:]
        yield HistoryProgress(total, total)
        yield HistoryReplayed(total, STEPS)


async def test_a_view_key_is_answered_while_the_history_loads_then_the_true_state_shows():
    fake = SlowHistory()
    app, _ = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        header = app.query_one(RunHeader)
        await settle(pilot, lambda: header.history is not None and header.history.done_bytes > 0)
        await settle(pilot, lambda: app.events_seen >= len(fake._events) // 2)
        # Half the history is in, and it has passed a TrainingStarted: not "running" yet.
        assert app.run_state is RunState.RUNNING
        assert header.word == "loading history"
        total = len(fake._events)
        assert (
            str(app.query_one("#run-percent").render()).strip() == f"{100 * (total // 2) // total}%"
        )
        assert "running" not in str(app.query_one("#run-state").render())
        # Answered before the history is in (how fast is bench.live --only history's figure: a
        # timed assertion here failed on a machine busy with the rest of the suite).
        await pilot.press("2")
        assert app.current_view == "attention" and not app.history_loaded
        # Nothing asks a half-read run for its attention.
        assert app.query_one(AttentionView).client is None
        assert not fake.calls
        fake.go_on.set()
        await settle(pilot, lambda: app.history_loaded)
        assert header.word == "finished"
        assert str(app.query_one("#run-step").render()) == f"step {STEPS:,}/{STEPS:,}"
        assert app.query_one(AttentionView).client is fake
        chart = app.query_one(LossChart)
        assert chart.history.steps[-1] == STEPS


async def test_the_footer_shows_no_run_key_while_the_history_loads():
    fake = SlowHistory()
    app, _ = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, lambda: app.events_seen >= len(fake._events) // 2)
        for action in ("pause", "resume", "save", "sample"):
            assert app.check_action(action, ()) is False, action
        fake.go_on.set()
        await settle(pilot, lambda: app.history_loaded)
        # Finished: nothing to pause or resume; the worker still saves and samples.
        assert app.check_action("pause", ()) is False
        assert app.check_action("resume", ()) is False
        assert app.check_action("save", ()) and app.check_action("sample", ())
