"""The headless client: what a terminal without the TUI sees of a run, when it stops looking, and
the exit code that says how the run ended.

A resumed or attached run's history is summed up in one line, not replayed line by line. Every text
that came from a corpus, a prompt or the model passes through `visible()` before it is printed.
"""

from __future__ import annotations

import math
import re
import signal
import sys
import threading
import time
from typing import TextIO

from engine.contract.display import visible
from engine.contract.errors import EngineError
from engine.contract.events import (
    CheckpointSaved,
    EngineFailed,
    EvalCompleted,
    Event,
    FinishReason,
    HistoryProgress,
    HistoryReplayed,
    LossNotFinite,
    PauseCause,
    PhaseChanged,
    SampleGenerated,
    StepCompleted,
    TokenizeProgress,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
)
from engine.contract.outputs import RunStatus
from engine.contract.run_state import RunState, advance

PROG = "llmlearns-tui"
PRINT_INTERVAL_S = 5.0  # how often a follower prints progress between evals, in wall time
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
# JSON escapes C0 controls itself; these it writes raw (ensure_ascii=False) and a terminal may obey
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


TOKENIZE_EVERY_S = 10.0


def paused_for_not_finite(event: Event) -> bool:
    return isinstance(event, TrainingPaused) and event.cause is PauseCause.NOT_FINITE


def safe_json(line: str) -> str:
    """An event's JSON line with the characters a terminal could act on written as \\u escapes."""
    if line.isascii():
        return line
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", line)


def one_line(text: str) -> str:
    return visible(text, keep_newlines=False, keep_tabs=False)


def age(seconds: float) -> str:
    """How long ago, roughly: "12s ago", "5m ago", "3h ago", "2d ago"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{max(0.0, seconds):.0f}s ago"


def duration(seconds: float) -> str:
    """HH:MM:SS, hours past 24 included (time.strftime wraps at a day and overflows past 2038)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "-"
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class ProgressPrinter:
    """Turns events into the headless output and keeps what the exit code depends on.

    With `history`, the events up to the worker's HistoryReplayed are the run's past: they print
    nothing, and summarize() sums them up in one line. After them, a progress line goes out at
    every eval, and every `print_every` steps or every `interval_s` seconds of wall time. The
    past is followed as if it had been printed, so the first live line measures from where an
    uninterrupted run's last line did.
    """

    def __init__(
        self,
        *,
        as_json: bool = False,
        print_every: int | None = None,
        interval_s: float | None = None,
        history: bool = False,
        verb: str = "resumed",
        max_steps: int | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ):
        self.as_json = as_json
        self.print_every = print_every
        self.interval_s = interval_s
        self.history = history
        self.replaying = history  # until the worker says the history ended
        self.history_ended = False  # the event last shown ended the history
        self.verb = verb
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self._summarized = False
        self.state = RunState.STARTING
        self.finish_reason: FinishReason | None = None
        self.run_dir = ""
        self.step = 0
        self.max_steps = max_steps or 0
        self._max_steps_given = max_steps is not None
        self.val: float | None = None  # the latest validation loss
        self.accuracy: tuple[float, float] | None = None  # a task's latest (train, val)
        self.best: tuple[float, int] | None = None  # (val loss, step)
        self.sample: SampleGenerated | None = None
        self.not_finite: LossNotFinite | None = None
        self.checkpoint: str | None = None
        self.live_finish = False  # a TrainingFinished came live (and printed the sample)
        # (step, loss, steps it stands for) of the steps since the last progress line
        self._losses: list[tuple[int, float, int]] = []
        self._mark: StepCompleted | None = None  # the step the last progress line measured from
        self._last: StepCompleted | None = None
        self._printed_at = time.monotonic()
        self._tokenize_stage: str | None = None

    def show(self, event: Event) -> None:
        self.history_ended = False
        if isinstance(event, (HistoryProgress, HistoryReplayed)):
            self.history_ended = self.replaying and isinstance(event, HistoryReplayed)
            self.replaying = self.replaying and not self.history_ended
            return  # what the worker says of its replay, not of the run
        self._track(event)
        if self.as_json:
            self._print(safe_json(event.to_json()))
        if not self.replaying:
            self._describe(event)

    def _track(self, event: Event) -> None:
        self.state = advance(self.state, event)
        if isinstance(event, TrainingStarted):
            self.run_dir = self.run_dir or event.run_dir  # the folder as given wins: runs move
            if not (self._max_steps_given and self.replaying):
                self.max_steps = event.max_steps
            self.step = event.start_step
            # A resumed run goes on from its checkpoint: steps logged after it were undone.
            self._losses = [entry for entry in self._losses if entry[0] <= event.start_step]
            if event.start_step == 0:  # a new run: rates and the ETA measure from its start
                self._mark = StepCompleted(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
        elif isinstance(event, StepCompleted):
            self.step = event.step
            self._last = event
            self._losses.append((event.step, event.loss, event.merged))
            if self.replaying and self.print_every and event.step % self.print_every == 0:
                self._passed(event)
        elif isinstance(event, EvalCompleted):
            self.val = event.val_loss
            if event.train_accuracy is not None and event.val_accuracy is not None:
                self.accuracy = (event.train_accuracy, event.val_accuracy)
            if self.best is None or event.val_loss < self.best[0]:
                self.best = (event.val_loss, event.step)
            if self.replaying and not self.print_every and event.step > 0 and self._last:
                self._passed(self._last)
        elif isinstance(event, SampleGenerated):
            self.sample = event
        elif isinstance(event, LossNotFinite):
            self.not_finite = event
        elif isinstance(event, TrainingFinished):
            self.step = event.step
            self.finish_reason = event.reason
        elif isinstance(event, CheckpointSaved):
            self.checkpoint = event.path
        elif isinstance(event, EngineFailed):
            self.checkpoint = event.last_checkpoint or self.checkpoint

    def summarize(self, state: RunState | None = None) -> None:
        """The history in one line (once): where the run stands and its best validation loss.

        `state`: the worker's word on the run, truer than the history's (a killed worker wrote
        no last event).
        """
        self.state = state or self.state
        self.replaying = False  # a stream cut short ends the history
        if self.as_json or not self.history or self._summarized:
            return
        self._summarized = True
        best = f"best val {self.best[0]:.4f} at step {self.best[1]}" if self.best else "no eval yet"
        where = f"{one_line(self.run_dir)} ({self.state})" if self.verb != "resumed" else ""
        where = where or one_line(self.run_dir)
        self._print(f"{self.verb} {where} at step {self.step}/{self.max_steps}: {best}")
        if self.interval_s is not None:  # lines by the clock: the first live one starts afresh
            self._mark, self._losses = self._last, []

    def _describe(self, event: Event) -> None:
        if isinstance(event, StepCompleted):
            due = (
                event.step % self.print_every == 0
                if self.print_every
                else self.interval_s is not None
                and time.monotonic() - self._printed_at >= self.interval_s
            )
            if due:
                self._progress(event)
        elif isinstance(event, EvalCompleted):
            if not self.print_every and event.step > 0 and self._last is not None:
                self._progress(self._last)
        if self.as_json:
            if isinstance(event, (LossNotFinite, TrainingPaused, EngineFailed)):
                self._warn(event)
            return
        if isinstance(event, TokenizeProgress):
            self._tokenizing(event)
        elif isinstance(event, TrainingStarted):
            self._print(
                f"{one_line(event.preset)}: {event.n_params:,} parameters, {event.tokenizer} "
                f"tokens (vocabulary {event.vocab_size:,}), {event.training_data()}, "
                f"on {event.device} -> {one_line(event.run_dir)}"
            )
        elif isinstance(event, TrainingPaused) and not paused_for_not_finite(event):
            self._print(f"paused at step {event.step}")
        elif isinstance(event, TrainingResumed):
            self._print(f"resumed at step {event.step}")
        elif isinstance(event, PhaseChanged):
            self._print(one_line(event.detail or f"{event.phase} at step {event.step}"))
        elif isinstance(event, TrainingFinished):
            self.live_finish = True
            self._print(f"training {event.reason} at step {event.step}")
            self.print_sample()
        elif isinstance(event, (LossNotFinite, TrainingPaused, EngineFailed)):
            self._warn(event)

    def _tokenizing(self, event: TokenizeProgress) -> None:
        """A line as each pass over a big corpus begins, then one every TOKENIZE_EVERY_S."""
        if event.stage == self._tokenize_stage:
            if time.monotonic() - self._printed_at < TOKENIZE_EVERY_S:
                return
        self._tokenize_stage = event.stage
        self._printed_at = time.monotonic()
        if event.total_bytes == 0:  # a pass with no byte count (waiting, BPE's merges)
            self._print(f"{event.stage.label}: {duration(event.elapsed_s)} so far")
            return
        done, total = event.done_bytes, max(1, event.total_bytes)
        speed = done / event.elapsed_s if event.elapsed_s > 0 else 0.0
        eta = duration((total - done) / speed) if speed else "-"
        self._print(
            f"{event.stage.label}: {100 * done // total}% of "
            f"{total / 1e6:,.0f} MB | {speed / 1e6:.1f} MB/s | ETA {eta}"
        )

    def print_sample(self) -> None:
        if self.sample and not self.as_json:
            self._print(f"\nsample at step {self.sample.step}:\n{visible(self.sample.text)}")

    def _passed(self, event: StepCompleted) -> None:
        """A replayed step where a progress line went out: the next one measures from here."""
        self._mark, self._losses = event, []

    def _progress(self, event: StepCompleted) -> None:
        if self.as_json or not self._losses:
            return
        loss = sum(v * n for _, v, n in self._losses) / sum(n for _, _, n in self._losses)
        self._losses.clear()
        rate, eta = event.tokens_per_s, "-"
        mark = self._mark
        if mark is not None and event.step > mark.step and event.elapsed_s > mark.elapsed_s:
            # Averaged since the last line: one step's rate jumps with every hiccup.
            seconds = event.elapsed_s - mark.elapsed_s
            rate = (event.tokens_seen - mark.tokens_seen) / seconds
            remaining = max(0, self.max_steps - event.step) * seconds / (event.step - mark.step)
            eta = duration(remaining)
        self._mark = event
        self._printed_at = time.monotonic()
        val_text = f"{self.val:.4f}" if self.val is not None else "-"
        if self.accuracy is not None:  # a task's: train and val accuracy at the last eval
            val_text += f" | accuracy {self.accuracy[0]:.0%} train, {self.accuracy[1]:.0%} val"
        width = len(str(self.max_steps))
        self._print(
            f"step {event.step:>{width}}/{self.max_steps} | loss {loss:.4f} | val {val_text} | "
            f"{rate:,.0f} tok/s | ETA {eta}"
        )

    def _warn(self, event: Event) -> None:
        if isinstance(event, LossNotFinite):
            text = f"warning: {event.summary()}; step skipped"
        elif isinstance(event, TrainingPaused):
            text = f"paused at step {event.step}: {one_line(event.detail or event.cause)}"
        else:
            assert isinstance(event, EngineFailed)
            text = f"engine failed: {one_line(event.reason)}"
            if event.last_checkpoint:  # a worker that died before its first one has none
                text += f"; last checkpoint: {one_line(event.last_checkpoint)}"
        print(text, file=self.err, flush=True)

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def explain_not_finite_stop(self) -> None:
        bad = self.not_finite
        what = bad.summary() if bad else ""
        saved = f"; last good checkpoint: {one_line(self.checkpoint)}" if self.checkpoint else ""
        print(
            f"{PROG}: stopped the run: {what or 'a value was not finite'}, and a headless run "
            f"has no one to resume it{saved}",
            file=self.err,
            flush=True,
        )

    def exit_code(self) -> int:
        """0 for a run that completed or was stopped, 130 if interrupted, 1 for any failure."""
        if self.finish_reason is FinishReason.INTERRUPTED and self.state is RunState.STOPPED:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.state in (RunState.FINISHED, RunState.STOPPED) else EXIT_FAILED


def follow(client, printer: ProgressPrinter, owner: bool, history_bytes: int | None = None) -> int:
    """Print the run's events until it is over; returns the exit code. `history_bytes`: how
    much of events.jsonl is the run's past (a resumed run's; None: all that is there).

    Only the owner stops the run: on Ctrl-C, and on a pause for a non-finite value, which no one
    else could resume. A follower's Ctrl-C ends the follower alone (KeyboardInterrupt, 130).
    """
    interrupted = threading.Event()
    ended_not_finite = False

    def on_interrupt(signum, frame) -> None:
        # A terminal's Ctrl-C reaches the worker too; a signal sent to us alone is passed on.
        interrupted.set()
        threading.Thread(target=_stop_quietly, args=(client,), daemon=True).start()

    previous = signal.signal(signal.SIGINT, on_interrupt) if owner else None
    last = None
    try:
        for last in client.events(history_bytes):
            printer.show(last)
            if printer.history_ended:
                status = _status(client)
                printer.summarize(status.state if status else None)
                if _over(status, printer.step):
                    break
            elif printer.replaying:
                continue  # a replayed end (a resumed run's earlier stop) is not the end
            elif owner and paused_for_not_finite(last):
                ended_not_finite = True
                _stop_quietly(client)
            elif printer.state.ended and _over(_status(client), printer.step):
                break
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        client.close()
    printer.summarize()  # if the stream ended within the history
    if not printer.live_finish and not isinstance(last, EngineFailed):
        printer.print_sample()  # an attached run that was already over
    if interrupted.is_set():
        return EXIT_INTERRUPTED
    if ended_not_finite:
        printer.explain_not_finite_stop()
        return EXIT_FAILED
    return printer.exit_code()


def _status(client) -> RunStatus | None:
    try:
        return client.status()
    except EngineError:
        return None  # the worker is gone


def _over(status: RunStatus | None, step: int) -> bool:
    """Whether the worker agrees that the run ended at `step` (or the worker is gone).

    After a resumed run's replayed end, the worker is live or at a later step: read on.
    """
    return status is None or (status.state.ended and status.step <= step)


def _stop_quietly(client) -> None:
    try:
        client.stop()
    except EngineError:
        pass
