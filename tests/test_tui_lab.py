"""The Lab view (key 7): ablations, head importance and the prediction game, and a task run's lesson
on the Train view. Pilot tests against the FakeEngine, and snapshots at 80×24 and 120×40."""

from __future__ import annotations

import pytest

from engine import Ablation, AblationMethod, AblationPart, PhaseKind
from tests.test_tui_snapshots import fake_app, open_view
from tests.tui_fakes import GENERALISED_AT, MEMORISED_AT, FakeEngine, make_events, make_task_events
from tests.tui_helpers import loaded, make_app, settle
from tui.views.lab import LabView
from tui.views.train import TrainView
from tui.widgets.lab.ablation_result import AblationView
from tui.widgets.lab.game_panel import GamePanel
from tui.widgets.lab.importance_table import ImportanceView
from tui.widgets.train.lesson_chart import LessonChart

PROBE = "oh my love you are"


def text_of(widget) -> str:
    return str(widget.render())


async def open_lab(pilot, fake) -> LabView:
    await loaded(pilot, fake)
    await pilot.press("7")
    view = pilot.app.query_one(LabView)
    await settle(pilot, lambda: view.query_one(AblationView).result is not None)
    await settle(pilot, lambda: view.query_one(ImportanceView).table is not None)
    return view


async def test_key_7_knocks_out_the_first_part_and_ranks_the_heads():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        assert fake.asked(fake.ablate) == []  # nothing is asked until the view is shown
        view = await open_lab(pilot, fake)
        part = Ablation(AblationPart.ATTENTION, 0)
        assert fake.asked(fake.ablate) == [(part, PROBE, -2)]
        assert fake.asked(fake.head_importance) == [(AblationMethod.ZERO,)]
        result = text_of(view.query_one(AblationView))
        assert "without block 0 attention" in result and "+0.300" in result
        table = text_of(view.query_one(ImportanceView))
        assert table.index("L1H0") < table.index("L1H1") < table.index("L0H0")


async def test_picking_a_part_a_method_and_a_position_asks_again():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_lab(pilot, fake)
        await pilot.press("down")  # the first head of block 0
        await settle(pilot, lambda: len(fake.asked(fake.ablate)) == 2)
        assert fake.asked(fake.ablate)[-1][0] == Ablation(AblationPart.HEAD, 0, 0)
        await settle(pilot, lambda: "head L0H0" in text_of(view.query_one(AblationView)))
        await pilot.press("m")
        await settle(pilot, lambda: len(fake.asked(fake.ablate)) == 3)
        assert fake.asked(fake.ablate)[-1][0].method is AblationMethod.MEAN
        await settle(pilot, lambda: len(fake.asked(fake.head_importance)) == 2)
        assert fake.asked(fake.head_importance)[-1] == (AblationMethod.MEAN,)
        await settle(pilot, lambda: view.query_one(AblationView).result.position == 3)
        await pilot.press("left")
        await settle(pilot, lambda: fake.asked(fake.ablate)[-1][2] == 2)
        assert "after “love”" in text_of(view.query_one(AblationView))


async def test_the_game_shows_the_passage_up_to_the_guess_and_keeps_the_score():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_lab(pilot, fake)
        await pilot.press("t")
        panel = view.query_one(GamePanel)
        await settle(pilot, lambda: panel.game.passage is not None)
        assert fake.asked(fake.game_passage) == [(0,)]
        assert "passage 1: oh ▁▁▁ ?" in text_of(panel)
        await pilot.press("enter", "m", "y", "enter")  # right; the model says "oh" here
        await settle(pilot, lambda: len(panel.game.results) == 1)
        await pilot.press("o", "h", "enter")  # wrong; the model is right at even positions
        await settle(pilot, lambda: len(panel.game.results) == 2)
        assert fake.asked(fake.guess) == [(0, 1, "my"), (0, 2, "oh")]
        shown = text_of(panel)
        assert "you 1/2, the model at step 300: 1/2" in shown
        assert "passage 1: oh my love ▁▁▁ ?" in shown and "it was “love”" in shown


async def test_a_finished_passage_gives_way_to_the_next():
    app, fake = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_lab(pilot, fake)
        await pilot.press("t")
        panel = view.query_one(GamePanel)
        await settle(pilot, lambda: panel.game.passage is not None)
        await pilot.press("enter")
        for i in range(1, 7):
            await pilot.press("x", "enter")
            await settle(pilot, lambda i=i: len(panel.game.results) == i)
        assert panel.game.done and "passage done" in text_of(panel)
        await pilot.press("enter")
        await settle(pilot, lambda: panel.game.passage.number == 1)
        assert fake.asked(fake.game_passage) == [(0,), (1,)]
        assert panel.game.summary() == "you 0/6, the model at step 300: 3/6"


@pytest.mark.parametrize("task", ["modadd", "induction"])
async def test_a_task_run_shows_its_lesson_in_place_of_the_samples(task):
    fake = FakeEngine(make_task_events(task), live=False)
    app, _ = make_app(fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        train = app.query_one(TrainView)
        lesson = app.query_one(LessonChart).lesson
        assert train.has_class("-task") and app.query_one("#lesson").display
        assert not app.query_one("#samples").display
        if task == "modadd":
            assert [(m.phase, m.step) for m in lesson.markers] == [
                (PhaseKind.MEMORISED, MEMORISED_AT),
                (PhaseKind.GENERALISED, GENERALISED_AT),
            ]
            assert lesson.norms and lesson.norms[-1][1] < lesson.norms[0][1]
            assert lesson.accuracy[-1][2] > 0.95
        else:
            assert [m.phase for m in lesson.markers] == [PhaseKind.INDUCTION]
            assert lesson.halves[-1][2] < 0.5 < lesson.halves[-1][1]
        await pilot.press("w")
        await settle(pilot)
        assert app.query_one("#wrong").display and not app.query_one("#lesson").display
        await pilot.press("w")
        await settle(pilot)
        assert app.query_one("#lesson").display and not app.query_one("#samples").display


async def test_a_corpus_run_keeps_its_samples():
    fake = FakeEngine(make_events(finished=True), live=False)
    app, _ = make_app(fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        assert app.query_one("#samples").display and not app.query_one("#lesson").display


def task_app(task: str):
    return fake_app(FakeEngine(make_task_events(task), live=False))


SIZES = [(80, 24), (120, 40)]
ASKS = ("ablate", "importance", "game", "guess")  # the Lab's request groups
IDS = ["80x24", "120x40"]


@pytest.mark.parametrize("size", SIZES, ids=IDS)
@pytest.mark.parametrize("task", ["modadd", "induction"])
def test_task_train_view_layout(snap_compare, task, size):
    assert snap_compare(task_app(task), terminal_size=size, run_before=task_drawn)


async def task_drawn(pilot) -> None:
    """open_view, then the lesson drawn once more at its final size: its first draw can come
    while the samples still give way to it."""
    await open_view([])(pilot)
    chart = pilot.app.query_one(LessonChart)
    drawn = chart.draws
    chart.refresh()
    await settle(pilot, lambda: chart.draws > drawn or chart._kept_render is not None)
    await pilot.pause(0.3)


def lab_open(keys: list[str]):
    async def run_before(pilot) -> None:
        await open_view(["7"])(pilot)
        view = pilot.app.query_one(LabView)
        await settle(pilot, lambda: view.query_one(ImportanceView).table is not None)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        # Not workers.wait_for_complete(): the live fake's event reader never completes.
        await settle(
            pilot, lambda: not any(w.group in ASKS and w.is_running for w in pilot.app.workers)
        )
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_ablation_pane_layout(snap_compare, size):
    keys = ["down", "down"]  # head L0H1
    assert snap_compare(fake_app(), terminal_size=size, run_before=lab_open(keys))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_game_layout(snap_compare, size):
    keys = ["t", "enter", "m", "y", "enter", "o", "h", "enter"]
    assert snap_compare(fake_app(), terminal_size=size, run_before=lab_open(keys))


@pytest.mark.parametrize("task", ["modadd", "induction"])
async def test_every_view_opens_on_a_task_run(task):
    fake = FakeEngine(make_task_events(task), live=False)
    app, _ = make_app(fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        for key, view in (("2", "attention"), ("3", "generate"), ("5", "inside"), ("7", "lab")):
            await pilot.press(key)
            await settle(pilot, lambda view=view: app.current_view == view)
            assert app.current_view == view
