"""Torch's thread count while a run trains on the CPU: every core while the cores are free, one
thread while another program wants them too.

Two threads make `char-small` about 1.45x faster than one on a quiet 2-core machine, but beside
another 2-thread training the two threads wait on each other (one of them is often not running),
and one thread is faster: measured on the 2-core VM, 400 steps of `char-small` took 10.0 s at two
threads and 14.5 s at one when quiet, and 39.9 s at two and 19.7 s at one beside a rival training
(GOMP_SPINCOUNT 10000 both). Load comes and goes while a run trains, so the worker times a few
steps at each count now and then and keeps the faster: every PROBE_EVERY steps (the first time
soon after the start), PROBE_STEPS steps at the count in use, then as many at the other. A probe
costs about 1-3% of the steps between probes. The step times are the events' training clock
(StepCompleted.elapsed_s), which leaves evals and checkpoints out.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

FIRST_PROBE = 20  # steps: past the first steps' warm-up, early enough to matter in a short run
PROBE_EVERY = 200
PROBE_STEPS = 6
MARGIN = 0.05  # the other count must be this much faster: no switching back and forth on noise


class ThreadTuner:
    def __init__(
        self,
        most: int,
        set_threads: Callable[[int], None],
        say: Callable[[str], None] = lambda line: None,
    ):
        self.most = most
        self.threads = most
        self.set_threads = set_threads
        self.say = say  # one line per decision, for the worker's log
        self.last: tuple[int, float] | None = None  # the last (step, elapsed_s) seen
        self.next_probe = FIRST_PROBE
        self.trials: list[int] = []  # the counts still to time in this probe, the current first
        self.timings: dict[int, list[float]] = {}
        self.settling = False  # the first step after a switch is not timed
        self.before = most  # the count in use when the probe began

    def saw_step(self, step: int, elapsed_s: float) -> None:
        """A StepCompleted: how far training has got, and its training clock."""
        last, self.last = self.last, (step, elapsed_s)
        if last is None or step <= last[0]:
            return  # the first step, or a resume's replayed history
        if not self.trials:
            if step >= self.next_probe:
                self.trials, self.timings = [self.threads, self._other()], {}
                self.before = self.threads
            return
        if self.settling:
            self.settling = False
            return
        timed = self.timings.setdefault(self.trials[0], [])
        timed.append((elapsed_s - last[1]) / (step - last[0]))
        if len(timed) < PROBE_STEPS:
            return
        self.trials.pop(0)
        if self.trials:
            self._use(self.trials[0])
            return
        medians = {count: statistics.median(times) for count, times in self.timings.items()}
        other = next(count for count in medians if count != self.before)
        better = medians[other] < medians[self.before] * (1 - MARGIN)
        best = other if better else self.before
        if best != self.threads:
            self._use(best)
        if best != self.before:
            self.say(
                f"threads: {best} at step {step:,} ("
                + ", ".join(f"{ms * 1000:.1f} ms a step at {n}" for n, ms in medians.items())
                + ")"
            )
        self.settling = False
        self.next_probe = step + PROBE_EVERY

    def _other(self) -> int:
        return 1 if self.threads == self.most else self.most

    def _use(self, count: int) -> None:
        self.set_threads(count)
        self.threads = count
        self.settling = True
