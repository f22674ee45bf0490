"""The llm-learns App: compose the shell, bind keys, route engine events to the views.

The views, their keys and tabs come from one table, tui/views/registry.py. The engine runs in
another process; two threads read its events (tui/event_batches.py): one blocks on the client's
iterator, and a thread worker posts what it gathered in batches. Engine failure is handled in
`_report_failure` only; the run's state is the App's, and the header only shows it.

A run's history comes first (in brief, engine/runs/history.py): until the client marks where it
ends (HistoryReplayed), the header says "loading history n%" rather than a state the history has
not reached yet, and the views get no client, so nothing asks the engine about a half-read run.

The app owns the replay clock (tui/state/replay.py): `p` plays the history back from step 0, and
every view follows the clock's step through the View base; a timer moves it while it plays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import ContentSwitcher, Static
from textual.worker import get_current_worker

from engine import (
    CheckpointSaved,
    EngineError,
    EngineFailed,
    HistoryReplayed,
    LossNotFinite,
    PauseCause,
    RunClient,
    RunConfig,
    RunState,
    TrainingPaused,
    TrainingStarted,
    advance,
    visible,
)
from tui.event_batches import event_batches
from tui.format import one_line, shown
from tui.messages import Connected, ConnectFailed, EventsReceived, EventStreamClosed, LearnAsked
from tui.palette import palette_commands
from tui.screens.entry import EntryScreen
from tui.screens.help import HelpScreen
from tui.screens.new_run import NewRunScreen
from tui.screens.quit import QuitScreen
from tui.state.replay import ReplayClock
from tui.views.learn import LearnView, slug
from tui.views.registry import FIRST, VIEWS, ViewEntry
from tui.views.train import TrainView
from tui.views.view import View
from tui.widgets.safe_text import SafeStatic
from tui.widgets.shell.key_hints import KeyHints
from tui.widgets.shell.replay_bar import ReplayBar
from tui.widgets.shell.run_header import LOADING, RunHeader
from tui.widgets.shell.tour_note import TourNote
from tui.widgets.shell.view_tabs import ViewTabs

# The replay's own keys: none of them while the New-run form is open.
REPLAY_ACTIONS = ("replay", "live", "replay_pause", "replay_play", "replay_eval", "replay_speed")


class LlmLearnsApp(App[int]):
    """Train a small GPT and watch it learn."""

    CSS_PATH = "app.tcss"
    # Events reach the views in batches this often: twice a second is enough to watch, and leaves
    # the cores to training (tests shorten it: they wait for the first batch).
    event_batch_s = 0.5
    replay_tick_s = 0.25  # how often a playing replay moves on
    TITLE = "llm-learns"
    HORIZONTAL_BREAKPOINTS = [(0, "-too-narrow"), (60, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-too-short"), (20, "-short"), (36, "-tall")]
    BINDINGS = [
        # The tab labels show 1-6, so the footer keeps its room for the actions.
        *(Binding(view.key, f"view({view.id!r})", view.label, show=False) for view in VIEWS),
        # One key, two bindings: check_action shows the one that applies, so the footer says
        # Resume while the run is paused.
        Binding("space", "pause", "Pause"),
        Binding("space", "resume", "Resume"),
        # While the run is replayed, space and ←/→ belong to the replay (a view's own ←/→ come
        # first: Attention's step through the replay too); esc is the one key back to live. The
        # replay bar shows these keys, so the footer keeps its room for the view's own.
        Binding("space", "replay_pause", "Pause replay", show=False),
        Binding("space", "replay_play", "Play replay", show=False),
        Binding("escape", "live", "Live", show=False),
        Binding("left,less_than_sign", "replay_eval(-1)", "Earlier eval", show=False),
        Binding("right,greater_than_sign", "replay_eval(1)", "Later eval", show=False),
        Binding("f", "replay_speed", "Replay speed", show=False),
        Binding("p", "replay", "Replay", show=False),  # shown by the Train view
        Binding("s", "save", "Save"),
        Binding("g", "sample", "Sample"),
        Binding("n", "new_run", "New run", show=False),
        Binding("P", "save_screenshot", "Screenshot", show=False),
        # The tour's note says "o read" / "o fold" itself: the footer has no room at 80 columns.
        Binding("o", "fold_note", "Tour note", show=False),
        Binding("question_mark,f1", "help", "Help"),
        Binding("q", "quit_app", "Quit"),
        Binding("ctrl+q", "quit_app", "Quit", show=False, priority=True),
        # What a terminal user expects of ctrl+c (Textual's default only says how to quit); a
        # priority binding, so that a text field's copy does not swallow it.
        Binding("ctrl+c", "quit_app", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        connect: Callable[[], object] | None = None,
        *,
        start_new: Callable[[RunConfig], object] | None = None,
        initial_config: RunConfig | None = None,
        tour: bool = False,
        compare: Iterable[Path] = (),
        replay: bool = False,
        defer_views: bool = False,
    ) -> None:
        super().__init__()
        # Compose only the first view before the first frame and mount the others just after it
        # (the command line's cold start: the hidden views are most of the widgets to mount).
        # Off where a caller queries every view at once (tests, embedding).
        self.defer_views = defer_views
        self.views_mounted = threading.Event()  # set once every view is mounted
        self._until_mounted: list[Callable[[], None]] = []  # keys pressed before that
        self.replay_when_loaded = replay  # `llmlearns-tui replay RUN_DIR`: replay once loaded
        self.tour_on = tour  # the guided tour (--tour, or the palette); kept across new runs
        self.compare = list(compare)  # runs drawn beside this one on the Train chart (--compare)
        self.connect = connect
        self.start_new = start_new
        self.config = initial_config
        self.client: RunClient | None = None
        self.run_state = RunState.STARTING
        # How the app stands with the engine, shown instead of the run's state until connected.
        self.link: str | None = "connecting" if connect else "no run"
        self.replay = ReplayClock(self._replay_changed)
        self._replay_shown: int | None = None  # the step the views were last told of
        self._ticked = 0.0  # when the replay last moved on (time.monotonic)
        self._ticking = False  # the replay's timer runs
        self._keys_for = self._key_state()  # what the key hints were last checked against
        self.last_checkpoint: str | None = None
        self.not_finite: LossNotFinite | None = None  # the last skipped step, for the pause notice
        self.events_seen = 0
        self.history_loaded = False  # the client has marked where the run's history ends

    def compose(self) -> ComposeResult:
        with Vertical(id="main"):
            yield RunHeader(id="header")
            yield ReplayBar(id="replay")
            yield SafeStatic(id="notice")
            yield ViewTabs(VIEWS, active=FIRST)
            with ContentSwitcher(id="views", initial=FIRST):
                yield from (self._make_view(entry) for entry in self._composed_views())
            yield TourNote(VIEWS, active=self.tour_on, id="tour")
            yield KeyHints()
        yield SafeStatic(
            "Terminal too small: llm-learns needs at least 60×20.\n"
            "Enlarge the window, or press q to quit.",
            id="too-small",
        )

    def _composed_views(self) -> tuple[ViewEntry, ...]:
        """The cold start's first compose makes the first view alone; a recompose (a new run)
        makes every view."""
        return VIEWS[:1] if self.defer_views and not self.views_mounted.is_set() else VIEWS

    def _make_view(self, entry: ViewEntry) -> View:
        view = entry.make(self.config.sample if self.config else None)
        view.clock = self.replay
        return view

    def on_mount(self) -> None:
        train = self.query_one(TrainView)
        train.focus_main()
        if self.compare:
            train.run_worker(train.compare_all(self.compare), group="compare")
        self._show_state()
        self._replay_timer = self.set_interval(self.replay_tick_s, self._replay_tick, pause=True)
        self.call_after_refresh(self._after_first_frame)

    async def _after_first_frame(self) -> None:
        """Connect, and mount the views not composed yet. Keys and messages are handled while
        they mount, so the client waits for them before it hands over the run
        (`views_mounted`), and a key that needs a view not there yet runs once it is."""
        if self.connect is not None:
            self._open(self.connect)  # a thread: the worker starts while the views mount
        mounted = {view.id for view in self._views()}
        later = [self._make_view(entry) for entry in VIEWS if entry.id not in mounted]
        for view in later:
            view.display = False  # the switcher shows only the current view
        if later:
            await self.query_one("#views", ContentSwitcher).mount_all(later)
        self.views_mounted.set()
        waiting, self._until_mounted = self._until_mounted, []
        for act in waiting:
            act()

    def _once_views_mounted(self, act: Callable[[], None]) -> bool:
        """False, and `act` kept for later, while the deferred views are still mounting."""
        if self.views_mounted.is_set():
            return True
        self._until_mounted.append(act)
        return False

    # --- connecting and reading events -------------------------------------------------------

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def _open(self, factory: Callable[[], object]) -> None:
        try:
            client = factory()
        except EngineError as error:
            self.post_message(ConnectFailed(one_line(error)))
            return
        except Exception as error:  # noqa: BLE001 - anything else is shown, not raised
            self.post_message(ConnectFailed(f"{type(error).__name__}: {one_line(error)}"))
            return
        while not self.views_mounted.wait(0.05):  # every view takes the run's events from the first
            if get_current_worker().is_cancelled:  # the app closed while they mounted
                try:
                    client.close()  # type: ignore[attr-defined]
                except Exception:  # noqa: BLE001 - closing must not fail the close
                    pass
                return
        self.post_message(Connected(client))

    def _views(self) -> list[View]:
        """The views mounted, in tab order (all of them once the deferred ones are in)."""
        return list(self.query_one("#views", ContentSwitcher).query_children(View))

    def _key_state(self) -> tuple:
        """What decides which run keys the footer shows (check_action)."""
        return (self.run_state, self.link, self.client is not None, self.replay.replaying,
                self.replay.playing)  # fmt: skip

    def _show_state(self) -> None:
        self.query_one(RunHeader).show_state(self.run_state, self.link)
        if self._key_state() != self._keys_for:
            self._keys_for = self._key_state()
            self.refresh_bindings()  # the key hints name what space does now: Pause or Resume

    @property
    def closing(self) -> bool:
        """Whether the app is going: exit() was called, or Textual tears it down without it (as
        run_test's teardown and an unhandled error do), removing the widgets while the event
        reader still posts batches."""
        return self._exit or not self.is_running

    @on(Connected)
    def _connected(self, message: Connected) -> None:
        self.client = message.client
        if self.closing:
            return  # too late to show it: on_unmount closes it
        self.run_state, self.link = RunState.STARTING, LOADING
        self.history_loaded = False
        self._show_state()
        self._read_events(self.client)

    @on(ConnectFailed)
    def _connect_failed(self, message: ConnectFailed) -> None:
        if self.closing:
            return
        if self.client is None:
            self.run_state, self.link = RunState.FAILED, None
        self._show_state()
        self._show_notice(f"Could not start the run: {message.message}  (n: new run)")

    @work(thread=True, exclusive=True, group="events", exit_on_error=False)
    def _read_events(self, client: RunClient) -> None:
        worker = get_current_worker()
        for batch, closed, error in event_batches(client.events(), self.event_batch_s, worker):
            if batch:
                self.post_message(EventsReceived(client, batch))
            if closed:
                self.post_message(EventStreamClosed(client, error))

    @on(EventsReceived)
    def _route(self, message: EventsReceived) -> None:
        if message.client is not self.client or self.closing:
            # The tail of a run this app has let go of (a new run replaced it), or a batch that
            # arrived while the app is closing and its views are already going.
            return
        events = message.events
        self.events_seen += len(events)
        replayed = False
        for event in events:
            if isinstance(event, HistoryReplayed):
                replayed = True
                continue
            self.run_state = advance(self.run_state, event)
            if isinstance(event, CheckpointSaved):
                self.last_checkpoint = event.path
            elif isinstance(event, TrainingStarted):
                self.query_one("#notice", Static).display = False
            if isinstance(event, (EngineFailed, LossNotFinite)) or (
                isinstance(event, TrainingPaused) and event.cause is PauseCause.NOT_FINITE
            ):
                self._report_failure(event)
        if replayed:
            self._history_replayed()
        self._show_state()
        self.query_one(RunHeader).ingest(events)
        self.replay.ingest(events)
        for view in self._views():
            view.ingest(events)
        self.query_one(TourNote).ingest(events)
        if self.replay.replaying:
            self._show_replay()  # the run goes on: "of M" grows
        if replayed and self.replay_when_loaded:
            self.replay_when_loaded = False
            self.action_replay()
        if replayed:
            for view in self._views():  # after the history: their first asks see all of it
                view.set_client(self.client)

    def _history_replayed(self) -> None:
        """The history is in: the header shows the state it left the run in."""
        self.history_loaded = True
        if self.link == LOADING:
            self.link = None

    @on(EventStreamClosed)
    def _stream_closed(self, message: EventStreamClosed) -> None:
        if message.client is not self.client or self.closing:
            return
        if self.link == LOADING:  # the stream ended inside the history
            self.link = None
        if message.error:
            self._report_failure(
                EngineFailed(reason=message.error, last_checkpoint=self.last_checkpoint)
            )
        elif not self.run_state.ended:
            self.link = "disconnected"
            self._show_state()
            self._show_notice(
                "The connection to the engine closed. History stays browsable; n starts a new run."
            )

    def _report_failure(self, event: EngineFailed | LossNotFinite | TrainingPaused) -> None:
        """The one place engine trouble becomes a visible notice."""
        checkpoint = self.last_checkpoint
        if isinstance(event, EngineFailed):
            self.run_state = RunState.FAILED
            if self.link == LOADING:
                self.link = None
            checkpoint = event.last_checkpoint or checkpoint
            reason = f"The engine failed: {event.reason}"
        elif isinstance(event, LossNotFinite):
            self.not_finite = event
            reason = f"{event.summary()}, so that step was skipped"
        else:
            bad = self.not_finite
            cause = bad.summary() if bad else "a value was not finite"
            reason = (
                f"Paused at step {event.step:,}: {cause}, so that step was skipped. "
                "Try a lower learning rate (n), or press space to go on"
            )
        reason = visible(reason, keep_newlines=False)
        saved = f" · last checkpoint: {checkpoint}" if checkpoint else " · no checkpoint saved"
        self._show_notice(f"{reason}{saved}")
        self._show_state()
        self.notify(reason, title="Training problem", severity="error", timeout=8, markup=False)

    def _show_notice(self, text: str) -> None:
        notice = self.query_one("#notice", Static)
        notice.update(Content(f"⚠ {visible(text)}"))  # a reason may quote a path or a text
        notice.display = True

    def notify(self, message: str, *, title: str = "", markup: bool = False, **kwargs) -> None:
        """Textual's notify (every widget's notify comes here), but plain text with control
        characters made visible by default: a notice may quote an engine's reason, a path or a
        prompt."""
        super().notify(shown(message), title=shown(title), markup=markup, **kwargs)

    # --- actions -----------------------------------------------------------------------------

    @property
    def current_view(self) -> str:
        return self.query_one(ContentSwitcher).current or "train"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The new-run form owns the keyboard: run controls there would act on the old run.
        if isinstance(self.screen, NewRunScreen) and action in (
            "pause",
            "resume",
            "save",
            "sample",
            "view",
            "help",
            "new_run",
            *REPLAY_ACTIONS,
        ):
            return False
        replaying = self.replay.replaying
        if action in ("live", "replay_eval", "replay_speed"):
            return replaying
        if action == "replay_pause":
            return replaying and self.replay.playing
        if action == "replay_play":
            return replaying and not self.replay.playing
        if action == "replay":
            return self.history_loaded
        # The footer shows no key that does nothing now: space only while there is something to
        # pause or resume, s and g only while a worker is there to serve them (not while the
        # history loads, nor once the connection is gone).
        serving = self.client is not None and self.link is None
        if action == "pause":
            return serving and self.run_state is RunState.RUNNING and not replaying
        if action == "resume":
            return serving and self.run_state is RunState.PAUSED and not replaying
        if action in ("save", "sample"):
            return serving
        if action == "fold_note":
            return self.query_one(TourNote).display
        return True

    def action_view(self, view: str) -> None:
        if not self._once_views_mounted(lambda: self.action_view(view)):
            return
        self.query_one(ContentSwitcher).current = view
        self.query_one(ViewTabs).active = view
        self._focus_view(view)
        if self.replay.replaying:
            self._show_replay()  # which keys step by eval in this view

    @on(ViewTabs.Picked)
    def _tab_picked(self, event: ViewTabs.Picked) -> None:
        self.action_view(event.view)

    def _focus_view(self, view: str) -> None:
        widget = self.query_one(f"#{view}", View)
        self.call_later(widget.focus_main)
        widget.entered()

    def _live_client(self) -> RunClient | None:
        if self.client is None:
            self.notify("No run is connected.", severity="warning", timeout=2)
        return self.client

    @work(thread=True, group="requests", exit_on_error=False)
    def _call_client(self, request: Callable[[], None], done: str) -> None:
        """Run a bound client method in a thread; a failure becomes a notification, not a crash."""
        try:
            request()
        except Exception as error:  # noqa: BLE001 - a dead engine is shown, not raised
            self.call_from_thread(self.notify, one_line(error), severity="error", markup=False)
            return
        if done:
            self.call_from_thread(self.notify, done, timeout=2)

    def action_toggle_pause(self) -> None:
        if not (client := self._live_client()):
            return
        if self.run_state is RunState.PAUSED:
            self._call_client(client.resume, "resuming")
        elif self.run_state is RunState.RUNNING:
            self._call_client(client.pause, "pausing")
        else:
            self.notify(f"The run is {self.link or self.run_state}.", timeout=2)

    def action_pause(self) -> None:
        self.action_toggle_pause()

    def action_resume(self) -> None:
        self.action_toggle_pause()

    def action_save(self) -> None:
        if client := self._live_client():
            self._call_client(client.save, "saving a checkpoint")

    def action_sample(self) -> None:
        if client := self._live_client():
            self._call_client(client.sample_now, "drawing a sample")

    def action_help(self) -> None:
        view = self.current_view
        self.push_screen(HelpScreen(view, self.query_one(f"#{view}", View).HELP))

    def action_toggle_log(self) -> None:
        self.query_one(TrainView).action_toggle_log()

    def action_compare_runs(self) -> None:
        self.action_view("train")
        self.query_one(TrainView).action_compare()

    def action_write_report(self) -> None:
        self.query_one(TrainView).action_report()

    @on(LearnAsked)
    def _learn_asked(self, message: LearnAsked) -> None:
        self.action_learn(message.heading)

    def action_learn(self, heading: str) -> None:
        """Show the glossary entry under a heading: the one place every way to Learn ends (click
        actions made by tui.format.learn_action, and LearnAsked from code)."""
        if isinstance(self.screen, NewRunScreen):
            self.push_screen(EntryScreen(heading))  # a dialog: the form keeps what was typed
            return
        if not self._once_views_mounted(lambda: self.action_learn(heading)):
            return
        if isinstance(self.screen, ModalScreen):
            self.pop_screen()
        self.action_view("learn")
        self.call_after_refresh(self.query_one(LearnView).goto, slug(heading))

    def action_new_run(self) -> None:
        if self.start_new is None:
            self.notify("This session cannot start runs.", severity="warning")
            return

        def chosen(config: RunConfig | None) -> None:
            if config is not None:
                self.call_later(self._switch_run, config)

        self.push_screen(NewRunScreen(self.config), chosen)

    async def _switch_run(self, config: RunConfig) -> None:
        old, self.client, self.config = self.client, None, config
        self.replay.live()
        self.replay = ReplayClock(self._replay_changed)  # the new run's: the views get it anew
        self._replay_shown = None
        if old is not None:
            self._release(old.close)
        self.run_state, self.last_checkpoint = RunState.STARTING, None
        self.link = "starting a new run"
        await self.recompose()  # fresh views: the old run's history does not belong here
        self._show_state()
        self.query_one(TrainView).focus_main()
        start_new = self.start_new
        self._open(lambda: start_new(config))

    @work(thread=True, group="release", exit_on_error=False)
    def _release(self, let_go: Callable[[], None]) -> None:
        try:
            let_go()
        except Exception:  # noqa: BLE001 - already gone is fine when letting go
            pass

    # --- replay --------------------------------------------------------------------------------

    def action_replay(self) -> None:
        """Play the run's history back from step 0 (the run itself goes on)."""
        if not self.replay.end:
            self.notify("Nothing to replay yet: the run has no steps.", timeout=2)
            return
        self.replay.start()

    def action_live(self) -> None:
        self.replay.live()

    def action_replay_pause(self) -> None:
        self.replay.toggle()

    def action_replay_play(self) -> None:
        self.replay.toggle()

    def action_replay_eval(self, delta: int) -> None:
        self.replay.step_eval(delta)

    def action_replay_speed(self) -> None:
        self.replay.next_speed()

    @on(ReplayBar.Seek)
    def _seek(self, message: ReplayBar.Seek) -> None:
        self.replay.seek(message.step)

    def _replay_tick(self) -> None:
        now = time.monotonic()
        self.replay.tick(now - self._ticked)
        self._ticked = now

    def _replay_changed(self) -> None:
        """The clock moved, paused or changed speed: the mark shows it, and the views follow a
        new step."""
        if not self.is_mounted:
            return
        if self.replay.playing and not self._ticking:
            self._ticked = time.monotonic()
            self._replay_timer.resume()
        elif not self.replay.playing:
            self._replay_timer.pause()
        self._ticking = self.replay.playing
        self._show_replay()
        if self.replay.step != self._replay_shown:
            self._replay_shown = self.replay.step
            for view in self._views():
                view.replay_moved()
        self._show_state()

    def _show_replay(self) -> None:
        clock, view = self.replay, self.query_one(f"#{self.current_view}", View)
        self.query_one(ReplayBar).show(
            clock.step, clock.end, clock.playing, clock.speed.label, view.REPLAY_ARROWS
        )

    def action_toggle_tour(self) -> None:
        self.tour_on = self.query_one(TourNote).toggle()

    def action_fold_note(self) -> None:
        self.query_one(TourNote).toggle_fold()

    def action_quit_app(self) -> None:
        if isinstance(self.screen, QuitScreen):
            return  # already asking (a second ctrl+c or q)
        client = self.client
        if client is None or not self.run_state.live:
            self._exit_with(client.close if client else None)
            return

        def chosen(choice: str | None) -> None:
            if choice in ("stop", "detach"):
                self._exit_with(client.shutdown if choice == "stop" else client.detach)

        self.push_screen(QuitScreen(), chosen)

    @work(thread=True, group="quit", exit_on_error=False)
    def _exit_with(self, let_go: Callable[[], None] | None) -> None:
        self.client = None
        if let_go is not None:
            try:
                let_go()
            except Exception:  # noqa: BLE001 - quitting must always work
                pass
        self.call_from_thread(self.exit, 0)

    def on_unmount(self) -> None:
        if self.client is not None:  # closed without the quit action (tests, ctrl+c)
            try:
                self.client.close()
            except Exception:  # noqa: BLE001
                pass

    def action_save_screenshot(self) -> None:
        """Save an SVG of the screen in the run's directory (else the current one); say where,
        in full. Served to a browser, the browser gets the file too."""
        run_dir = self.client.run_dir if self.client is not None else None
        folder = Path(run_dir) if run_dir and Path(run_dir).is_dir() else Path.cwd()
        try:
            path = self.save_screenshot(path=str(folder.resolve()))
        except OSError as error:
            self.notify(f"Could not save the screenshot: {one_line(error)}", severity="error")
            return
        self.notify(f"Screenshot saved to {path}", title="Screenshot", timeout=6)
        if self.is_web:
            self.deliver_text(path, mime_type="image/svg+xml")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            # Ours replace these two: Quit asks first on a live run, and Textual's screenshot
            # goes to ~/Downloads, which a server often lacks (it then just fails).
            if command.title not in ("Quit", "Screenshot"):
                yield command
        yield from palette_commands(self)


def run_app(
    connect: Callable[[], object],
    *,
    start_new: Callable[[RunConfig], object] | None = None,
    initial_config: RunConfig | None = None,
    tour: bool = False,
    compare: Iterable[Path] = (),
    replay: bool = False,
) -> int:
    """Run the TUI until the user quits; returns the process exit code. `replay`: replay the
    run's history from step 0 once it is loaded."""
    app = LlmLearnsApp(
        connect,
        start_new=start_new,
        initial_config=initial_config,
        tour=tour,
        compare=compare,
        replay=replay,
        defer_views=True,
    )
    result = app.run()
    return result if isinstance(result, int) else (app.return_code or 0)
