"""The replay clock (tui/state/replay.py) and the timeline it keeps, on made-up histories."""

from __future__ import annotations

from engine import EvalCompleted, StepCompleted
from tui.state.loss_history import MAX_POINTS, RECENT, LossHistory
from tui.state.replay import SPEEDS, ReplayClock, interpolate
from tui.state.timeline import Timeline


def history(steps: int = 1000, eval_every: int = 250, step_s: float = 0.01) -> list:
    events: list = []
    for step in range(0, steps + 1):
        if step:
            events.append(StepCompleted(step, 2.0, 1e-3, 0.5, 1e4, step * step_s, step * 64))
        if step % eval_every == 0:
            events.append(EvalCompleted(step, 2.0, 2.1))
    return events


def clock(**kwargs) -> tuple[ReplayClock, list[int | None]]:
    seen: list[int | None] = []
    replay = ReplayClock()
    replay.changed = lambda: seen.append(replay.step)
    replay.ingest(history(**kwargs))
    return replay, seen


def test_the_clock_is_live_until_started_and_starts_at_step_0():
    replay, seen = clock()
    assert replay.step is None and not replay.replaying and replay.end == 1000
    replay.tick(5.0)
    assert replay.step is None and seen == []
    replay.start()
    assert (replay.step, replay.playing, seen) == (0, True, [0])
    replay.live()
    assert replay.step is None and not replay.playing


def test_one_eval_a_second_moves_evenly_between_evals():
    replay, _ = clock()
    replay.start()
    replay.tick(0.5)
    assert replay.step == 125
    replay.tick(1.0)
    assert replay.step == 375
    replay.tick(10.0)
    assert replay.step == 1000 and not replay.playing  # it stops at the end


def test_times_k_follows_the_runs_own_training_time():
    replay, _ = clock(step_s=0.01)  # 100 steps a second of training
    replay.start()
    while replay.speed.factor != 1.0:
        replay.next_speed()
    replay.tick(0.5)
    assert replay.step == 50
    replay.next_speed()  # ×10
    replay.tick(0.5)
    assert replay.step == 550


def test_a_slow_pace_adds_up_over_ticks_shorter_than_a_step():
    replay, _ = clock(step_s=1.0)
    replay.start()
    replay.next_speed()  # ×0.1: a step every 10 s
    for _ in range(40):
        replay.tick(0.25)
    assert replay.step == 1


def test_arrows_go_eval_by_eval_and_pause():
    replay, _ = clock()
    replay.start()
    replay.seek(300)
    replay.step_eval(-1)
    assert (replay.step, replay.playing) == (250, False)
    replay.step_eval(-1)
    replay.step_eval(-1)
    assert replay.step == 0
    replay.step_eval(-1)
    assert replay.step == 0
    for _ in range(5):
        replay.step_eval(1)
    assert replay.step == 1000


def test_play_at_the_end_starts_over_and_seek_stays_inside_the_history():
    replay, _ = clock()
    replay.start()
    replay.seek(5000)
    assert replay.step == 1000 and not replay.playing
    replay.toggle()
    assert replay.step == 0 and replay.playing
    replay.seek(-5)
    assert replay.step == 0


def test_a_run_that_goes_on_moves_the_end_and_a_resume_pulls_the_step_back():
    replay, _ = clock()
    replay.start()
    replay.seek(900)
    replay.ingest([StepCompleted(1001, 2.0, 1e-3, 0.5, 1e4, 10.01, 1001 * 64)])
    assert replay.end == 1001 and replay.step == 900
    # A resumed run restarts from its checkpoint at 500: the steps past it are gone.
    replay.ingest([StepCompleted(501, 2.0, 1e-3, 0.5, 1e4, 5.01, 501 * 64)])
    assert replay.end == 501 and replay.step == 501


def test_speeds_cycle_back_to_the_first():
    replay, _ = clock()
    for _ in SPEEDS:
        replay.next_speed()
    assert replay.speed == SPEEDS[0]


def test_interpolate_holds_the_ends():
    assert interpolate([0, 10], [0.0, 1.0], 5) == 0.5
    assert interpolate([0, 10], [0.0, 1.0], -1) == 0.0
    assert interpolate([0, 10], [0.0, 1.0], 11) == 1.0


def test_a_timeline_answers_at_or_before_and_stays_bounded():
    line: Timeline[int] = Timeline(limit=100)
    for step in range(1, 1001):
        line.add(step, step * 10)
    assert len(line) <= 100 and line.at(1000) == 10_000 and line.at(0) is None
    assert line.steps == sorted(line.steps)
    older = line.at(10)
    assert older is not None and older <= 100  # thinned, but never a later step's
    assert line.until(1000, 3) == [9980, 9990, 10_000]
    line.add(500, 1)  # a resumed run
    assert line.steps[-1] == 500 and line.at(999) == 1


def test_a_long_history_keeps_points_near_every_step_for_a_replay():
    history = LossHistory()
    for step in range(1, 100_001):
        history.add_step(step, 1.0 + (step % 10) / 10, step * 64)
    assert len(history) <= MAX_POINTS and sum(history.weight) == 100_000
    # Evenly spread: no point stands for more than 64 steps (the first quarter of the run was
    # once one point), and the newest RECENT steps have a point each.
    assert max(history.weight) <= 64 and history.steps[0] <= 64
    assert history.steps[-RECENT:] == list(range(100_001 - RECENT, 100_001))
    for step in (50, 10_007, 45_000, 99_999):
        past = history.up_to(step)
        assert past.steps[-1] <= step and step - past.steps[-1] < 64
        assert past.ema[-1] == history.ema[len(past) - 1]
