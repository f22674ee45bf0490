"""The worker's thread tuner (engine/process/thread_tuner.py): it times a few steps at each count
and keeps the faster, as the machine's load changes."""

from __future__ import annotations

from engine.process.thread_tuner import FIRST_PROBE, PROBE_EVERY, PROBE_STEPS, ThreadTuner


class Machine:
    """A training clock whose steps take `ms[threads]` milliseconds at each thread count."""

    def __init__(self, ms: dict[int, float]):
        self.ms = ms
        self.threads = 2
        self.step = 0
        self.elapsed_s = 0.0
        self.switches: list[int] = []
        self.said: list[str] = []
        self.tuner = ThreadTuner(2, self._set, self.said.append)

    def _set(self, count: int) -> None:
        self.threads = count
        self.switches.append(count)

    def train(self, steps: int) -> None:
        for _ in range(steps):
            self.step += 1
            self.elapsed_s += self.ms[self.threads] / 1000
            self.tuner.saw_step(self.step, self.elapsed_s)


def test_a_quiet_machine_keeps_every_core_and_probes_one_thread_briefly():
    machine = Machine({2: 25.0, 1: 36.0})
    machine.train(FIRST_PROBE + 3 * PROBE_EVERY)
    assert machine.threads == 2 and not machine.said
    # each probe times PROBE_STEPS steps at one thread (after a step to settle), then goes back
    assert machine.switches == [1, 2] * 3


def test_contention_moves_to_one_thread_and_back_when_it_ends():
    machine = Machine({2: 80.0, 1: 40.0})  # beside a rival, two threads wait on each other
    machine.train(FIRST_PROBE + 2 * PROBE_STEPS + 2)
    assert machine.threads == 1
    assert machine.said == [
        f"threads: 1 at step {FIRST_PROBE + 2 * PROBE_STEPS + 1:,} "
        "(80.0 ms a step at 2, 40.0 ms a step at 1)"
    ]
    machine.train(PROBE_EVERY)
    assert machine.threads == 1  # still contended: it stays
    machine.ms = {2: 25.0, 1: 36.0}  # the rival ended
    machine.train(PROBE_EVERY + 2 * PROBE_STEPS + 2)
    assert machine.threads == 2 and machine.said[-1].startswith("threads: 2 at step")


def test_a_difference_within_the_noise_switches_nothing():
    machine = Machine({2: 30.0, 1: 29.0})  # one thread 3% faster: not worth a switch
    machine.train(FIRST_PROBE + 2 * PROBE_EVERY)
    assert machine.threads == 2 and not machine.said


def test_a_resumes_replayed_steps_are_not_timed():
    machine = Machine({2: 25.0, 1: 36.0})
    machine.tuner.saw_step(500, 100.0)
    machine.tuner.saw_step(400, 90.0)  # steps going back: a resume's history, not a step
    assert machine.switches == []
