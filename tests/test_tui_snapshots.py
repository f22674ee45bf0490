"""Snapshot tests: each view's layout at 80×24 (with the tour's note closed, folded and open) and
at 120×40, fed by a fixed FakeEngine history.

Nothing on screen depends on a clock: the fake's tokens/s and elapsed times are fixed, so the
ETA is too. Update baselines with `pytest tests/test_tui_snapshots.py --snapshot-update` after
looking at the report.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.tui_fakes import FakeEngine, make_events
from tests.tui_helpers import loaded, make_app, settle
from tui.views.attention import AttentionView
from tui.views.inside import InsideView
from tui.views.lab import LabView
from tui.views.learning import LearningView
from tui.widgets.generate.generation_output import GenerationOutput
from tui.widgets.lab.ablation_result import AblationView
from tui.widgets.lab.importance_table import ImportanceView
from tui.widgets.learning.embedding_plot import EmbeddingPlot
from tui.widgets.learning.health import HealthPane


def open_view(keys: list[str]):
    async def run_before(pilot) -> None:
        app = pilot.app
        fake = app._fake
        await loaded(pilot, fake)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if app.current_view == "attention":
            view = app.query_one(AttentionView)  # the map, and every snapshot's head roles
            await settle(pilot, lambda: view.amap is not None and len(view.role_history) == 3)
        if "enter" in keys and app.current_view == "generate":
            await settle(pilot, lambda: len(app.query_one(GenerationOutput).tokens) == 30)
        if app.current_view == "inside":
            await settle(pilot, lambda: app.query_one(InsideView).trace is not None)
        if app.current_view == "lab":
            lab = app.query_one(LabView)
            await settle(pilot, lambda: lab.query_one(ImportanceView).table is not None)
            await settle(pilot, lambda: lab.query_one(AblationView).result is not None)
        if app.current_view == "learning":
            await settle(pilot, lambda: learning_drawn(app.query_one(LearningView)))
        await settle(pilot)
        await pilot.pause(0.3)  # let the chart's redraw timer fire once

    return run_before


def learning_drawn(view: LearningView) -> bool:
    """The pane shown has all it asks for: the verdicts, every stored lens, or the map."""
    if view.pane == "health":
        return bool(view.query_one(HealthPane).verdicts) or not view.history
    if view.pane == "lens":
        return len(view.lenses) == len(view.snapshots) == 3
    return view.query_one(EmbeddingPlot).map is not None


def fake_app(fake: FakeEngine | None = None, **kwargs):
    app, fake = make_app(fake or FakeEngine(), **kwargs)
    app._fake = fake
    return app


VIEWS = {
    "train": [],
    "attention": ["2", "down", "down"],
    "generate": ["3", "enter", "enter"],  # enter gives the prompt the keyboard, enter submits
    "learn": ["4"],
    "inside": ["5"],
    "learning": ["6"],
    "lab": ["7"],
}
# The tour's note at 80×24: none, as it comes there (folded to its title), and opened with o.
NOTE = {"closed": None, "folded": [], "open": ["o"]}


@pytest.mark.parametrize("size", [(120, 40)], ids=["120x40"])
@pytest.mark.parametrize("view", ["train", "attention", "generate", "learn"])
def test_view_layout(snap_compare, view, size):
    assert snap_compare(fake_app(), terminal_size=size, run_before=open_view(VIEWS[view]))


@pytest.mark.parametrize("note", list(NOTE))
@pytest.mark.parametrize("view", list(VIEWS))
def test_every_view_at_80x24(snap_compare, view, note):
    """80×24 is a supported size: each view's main figure stays readable, the note or not."""
    keys = NOTE[note]
    # The Learning view with what it draws: training statistics, head scores, a phase change.
    fake = FakeEngine(make_events(learning=True)) if view == "learning" else None
    app = fake_app(fake, tour=keys is not None)
    run_before = open_view([*(keys or []), *VIEWS[view]])
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


# The Learning view's panes, and the loss chart with a phase change marked, on a run that learned.
LEARNING = {"train": [], "health": ["6"], "lens": ["6", "l"], "map": ["6", "m"]}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("pane", list(LEARNING))
def test_learning_layout(snap_compare, pane, size):
    fake = FakeEngine(make_events(learning=True, finished=True), live=False)
    assert snap_compare(fake_app(fake), terminal_size=size, run_before=open_view(LEARNING[pane]))


@pytest.mark.parametrize("keys", [["q"], ["question_mark"], ["n"]], ids=["quit", "help", "new"])
def test_dialog_layout(snap_compare, keys):
    app = fake_app()
    app.start_new = lambda config: FakeEngine()
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_view(keys))


def test_too_small_notice(snap_compare):
    assert snap_compare(fake_app(), terminal_size=(50, 15), run_before=open_view([]))


def test_six_heads_fit_at_80x24(snap_compare):
    app = fake_app(FakeEngine(make_events(n_head=6), n_head=6))
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_view(["2", "down"]))


def with_settings(keys: list[str], **settings):
    """open_view, then set Generate's fields (the pipeline redraws; nothing is generated)."""

    async def run_before(pilot) -> None:
        await open_view(keys)(pilot)
        for name, value in settings.items():
            pilot.app.query_one(f"#gen-{name}", Input).value = str(value)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_sampling_pipeline_layout(snap_compare, size):
    """Step 28 drew the runner-up; temperature, top-k and top-p each cut something."""
    keys = [*VIEWS["generate"], "left", "left"]
    run_before = with_settings(keys, temperature=0.7, top_k=4, top_p=0.8)
    assert snap_compare(fake_app(), terminal_size=size, run_before=run_before)
