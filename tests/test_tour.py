"""The guided tour: its state machine on made-up events, the note in the app, and --tour."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from engine import (
    EngineError,
    EvalCompleted,
    FinishReason,
    SampleGenerated,
    StepCompleted,
    TrainingFinished,
    TrainingStarted,
)
from engine.cli.commands import check_args, parse_args
from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.cli import main as tui_main
from tui.state.tour import WELCOME, Tour
from tui.terms import headings
from tui.widgets.shell.tour_note import TourNote


def started(vocab_size: int = 50, start_step: int = 0, train_tokens: int = 1000):
    return TrainingStarted(
        run_dir="/tmp/run",
        preset="seed",
        device="cpu",
        dtype="float32",
        tokenizer="word",
        vocab_size=vocab_size,
        n_params=1000,
        n_layer=2,
        n_head=2,
        n_embd=32,
        block_size=6,
        batch_size=16,
        start_step=start_step,
        max_steps=600,
        train_tokens=train_tokens,
        val_tokens=100,
    )


def step(n: int, loss: float = 3.0, tokens_per_step: int = 100) -> StepCompleted:
    return StepCompleted(n, loss, 1e-3, 0.5, 1000.0, n * 0.1, n * tokens_per_step)


def evaluation(n: int, train: float, val: float) -> EvalCompleted:
    return EvalCompleted(step=n, train_loss=train, val_loss=val)


def test_step_zero_explains_ln_v_with_the_runs_numbers():
    tour = Tour()
    note = tour.feed([started(vocab_size=50), evaluation(0, 3.93, 3.92), step(1, 3.91)])
    assert note.key == "untrained" and note.view == "train"
    assert "3.93" in note.text and f"{math.log(50):.2f}" in note.text and "1/50" in note.text
    assert tour.feed([step(2)]) is None  # each note once


def test_a_resumed_run_skips_the_step_zero_note():
    tour = Tour()
    assert tour.feed([started(start_step=300), step(301)]) is None


def test_the_first_sample_after_training_began_points_at_the_samples():
    tour = Tour()
    # A sample before any training step is the untrained model's: no note for it.
    assert tour.feed([started(), SampleGenerated(0, "oh", "oh noise")]) is None
    assert tour.fired == set()
    note = tour.feed([step(100), evaluation(100, 2.0, 2.1), SampleGenerated(100, "oh", "oh my")])
    assert note.key == "samples" and "100" in note.title


def test_val_turning_up_while_train_falls_is_overfitting_with_the_epochs():
    tour = Tour()
    tour.feed([started(train_tokens=1000), step(100), evaluation(100, 2.0, 2.2)])
    assert tour.feed([step(200), evaluation(200, 1.8, 2.205)]) is None  # within eval noise
    note = tour.feed([step(300), evaluation(300, 1.5, 2.4)])
    assert note.key == "overfitting" and note.heading == "Overfitting"
    assert "2.400" in note.text and "2.200 at step 100" in note.text
    assert "30.0 epochs" in note.text  # 300 steps × 100 tokens over 1,000 training tokens


def test_val_rising_with_train_rising_too_is_not_overfitting():
    tour = Tour()
    tour.feed([started(), evaluation(100, 2.0, 2.2)])
    assert tour.feed([evaluation(200, 2.5, 2.7)]) is None


def test_head_roles_after_a_few_evals_even_if_overfitting_came_first():
    tour = Tour()
    tour.feed([started(), evaluation(100, 2.0, 2.0)])
    assert tour.feed([evaluation(200, 1.5, 2.5)]).key == "overfitting"
    note = tour.feed([evaluation(300, 1.4, 2.6)])
    assert note.key == "heads" and note.view == "attention" and note.heading == "Head roles"


def test_the_end_points_at_the_inside_view_when_there_is_one():
    with_inside = Tour(["train", "attention", "generate", "learn", "inside"])
    note = with_inside.feed([started(), TrainingFinished(FinishReason.COMPLETED, 600)])
    assert (note.view, note.heading) == ("inside", "The forward pass")
    without = Tour(["train", "attention", "generate", "learn"])
    note = without.feed([started(), TrainingFinished(FinishReason.COMPLETED, 600)])
    assert note.view == "generate"
    diverged = Tour().feed([started(), TrainingFinished(FinishReason.DIVERGED, 40)])
    assert diverged.heading == "Learning rate"


def test_a_replayed_history_ends_on_its_latest_note():
    tour = Tour()
    note = tour.feed(make_events(finished=True))
    assert note.key == "finished" and tour.latest is note
    assert {"untrained", "samples", "heads", "finished"} <= tour.fired


def test_every_note_names_a_glossary_entry():
    tour = Tour(["train", "attention", "generate", "learn", "inside"])
    events = [started(), step(1), evaluation(100, 2, 2), SampleGenerated(100, "", "x")]
    events += [evaluation(200, 1, 3), evaluation(300, 1, 3)]
    events.append(TrainingFinished(FinishReason.COMPLETED, 300))
    notes = [WELCOME] + [note for event in events if (note := tour.feed([event]))]
    keys = ["welcome", "untrained", "samples", "overfitting", "heads", "finished"]
    assert [note.key for note in notes] == keys
    assert {note.heading for note in notes} <= set(headings())


# -- in the app ---------------------------------------------------------------------------------


async def test_tour_shows_the_first_note_and_keys_still_work():
    fake = FakeEngine([started(), step(1, 3.9)], live=True)
    app, _ = make_app(fake, tour=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        note = app.query_one(TourNote)
        await settle(pilot, lambda: note.note is not None and note.note.key == "untrained")
        assert note.display and "ln V" in str(note.render())
        assert app.focused is not note
        await pilot.press("2")
        assert app.current_view == "attention" and note.display  # the note stays
        await pilot.press("space")
        await settle(pilot, lambda: fake.asked(fake.pause))
        assert fake.asked(fake.pause) == [()]  # space reached the run, not the note
        assert note.folded and note.size.height == 1  # 30 rows: the view keeps its room
        await pilot.press("o")
        await pilot.pause()
        assert not note.folded and "ln V = ln" in str(note.render())
        await pilot.click(note, offset=(3, note.size.height - 1))  # its "1 Train view" link
        await pilot.pause()
        assert app.current_view == "train" and note.display


async def test_a_note_comes_folded_on_a_short_terminal_and_open_on_a_tall_one():
    for rows, folded in ((24, True), (40, False)):
        app, fake = make_app(FakeEngine(make_events(), live=False), tour=True)
        async with app.run_test(size=(80, rows)) as pilot:
            await loaded(pilot, fake)
            note = app.query_one(TourNote)
            assert note.folded is folded
            text = str(note.render())
            assert text.startswith("Tour · 3 evals in: heads have habits")
            assert ("o read" in text) is folded and ("o fold" in text) is not folded
            assert note.size.height == 1 if folded else note.size.height > 1
            await pilot.press("o")
            await pilot.pause()
            assert note.folded is not folded


async def test_tour_is_off_by_default_and_the_palette_starts_it():
    app, fake = make_app(FakeEngine(make_events(), live=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        note = app.query_one(TourNote)
        assert not note.display
        titles = {c.title: c for c in app.get_system_commands(app.screen)}
        titles["Start the guided tour"].callback()
        await pilot.pause()
        assert note.display and note.note.key == "heads"  # the latest so far, not a welcome
        titles = {c.title: c for c in app.get_system_commands(app.screen)}
        titles["End the guided tour"].callback()
        await pilot.pause()
        assert not note.display


async def test_the_close_link_hides_the_note_until_the_next():
    app, fake = make_app(FakeEngine([started()], live=False), tour=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        note = app.query_one(TourNote)
        assert note.note is WELCOME and note.display
        note.action_close()
        await pilot.pause()
        assert not note.display
        note.ingest([step(1)])
        assert note.display and note.note.key == "untrained"


# -- the command line ---------------------------------------------------------------------------


def test_tour_flag_is_parsed_and_reaches_the_app(monkeypatch):
    assert parse_args(["--tour"]).tour and not parse_args([]).tour
    assert parse_args(["attach", "runs/x", "--tour"]).tour
    seen = {}
    monkeypatch.setattr("tui.app.run_app", lambda connect, **kwargs: seen.update(kwargs) or 0)
    assert tui_main(["--tour", "--steps", "5"]) == 0
    assert seen["tour"] is True


@pytest.mark.parametrize("other", ["--headless", "--detach"])
def test_tour_without_the_tui_is_refused(other):
    with pytest.raises(EngineError, match=f"--tour shows notes in the TUI.*{other}"):
        check_args(parse_args(["--tour", other]))


def task_started(task: str) -> TrainingStarted:
    return replace(started(), preset=task, task=task)


def test_a_grokking_run_gets_a_note_for_its_lesson_and_each_moment():
    from engine import PhaseChanged, PhaseKind

    tour = Tour(("train", "lab"))
    assert tour.feed([task_started("modadd"), SampleGenerated(50, "1 2 =", "1 2 = 3")]).key == (
        "lesson"
    )
    memorised = tour.feed([PhaseChanged(PhaseKind.MEMORISED, 150, None, None, 1.0)])
    grokked = tour.feed([PhaseChanged(PhaseKind.GENERALISED, 450, None, None, 0.6)])
    assert memorised.key == "memorised" and memorised.heading == "Memorisation"
    assert grokked.key == "grokked" and "long after it memorised" in grokked.text
    assert grokked.heading in headings()
    finished = tour.feed([TrainingFinished(FinishReason.COMPLETED, 600)])
    assert finished.view == "lab" and finished.heading == "Ablation"


def test_an_induction_head_in_an_induction_run_is_a_lesson_and_elsewhere_is_not():
    from engine import PhaseChanged, PhaseKind

    formed = PhaseChanged(PhaseKind.INDUCTION, 300, 1, 0, 0.6)
    tour = Tour()
    note = tour.feed([task_started("induction"), formed])
    assert note.key == "induction-task" and "L1H0" in note.text
    assert note.heading == "Induction head" and note.heading in headings()
    assert Tour().feed([started(), formed]).key == "induction"  # a corpus run gets the general note
