"""The Learning view (key 6) and what it is made of: the learning history and its verdicts (plain
Python, on made-up events), the logit lens grid and the embedding map (cells measured), the
phase changes on the loss chart and in the tour, and the view driven by the keyboard.

Snapshots of its panes at 80×24 and 120×40 are in test_tui_snapshots.py.
"""

from __future__ import annotations

import math

from rich.cells import cell_len

from engine import (
    Candidate,
    EmbeddingMap,
    HeadScore,
    HeadsScored,
    HeadStats,
    LayerStats,
    LogitLens,
    PhaseChanged,
    PhaseKind,
    StepCompleted,
    TrainingStarted,
    TrainingStats,
    WeightStats,
)
from tests.tui_fakes import INDUCTION_FROM, FakeEngine, make_events
from tests.tui_helpers import Holder, loaded, make_app, settle
from tui.state.learning import LearningHistory, grad_norms, lens_sureness, update_ratios
from tui.state.tour import Tour
from tui.state.verdicts import speed_verdict, times, verdicts
from tui.terms import headings
from tui.views.learning import LearningView, step_after, step_before
from tui.widgets.learning.embedding_plot import EmbeddingPlot
from tui.widgets.learning.health import CHARTS, HealthPane
from tui.widgets.learning.lens_grid import LensGrid
from tui.widgets.learning.multiple import SmallMultiple
from tui.widgets.train.loss_chart import LossChart


def stats(
    step: int,
    ratio: float = -3.0,
    dead: float = 0.0,
    grad: float = 1.0,
    max_score: float = 5.0,
    entropy: float = 1.0,
) -> TrainingStats:
    """Two blocks with the same readings, the embeddings beside them."""
    weights = [WeightStats("token_embedding", None, grad, 8.0, ratio)]
    for layer in (0, 1):
        weights += [WeightStats(m, layer, grad, 4.0, ratio) for m in ("qkv", "mlp_in")]
    layers = (LayerStats(0, 0.2, 0.0, 5.0), LayerStats(1, 0.3, dead, 5.0))
    heads = (HeadStats(0, 0, entropy, max_score), HeadStats(1, 0, 1.2, 3.0))
    return TrainingStats(step, tuple(weights), layers, heads, 1.6)


def scored(step: int, induction: float = 0.1, icl: float = -0.05) -> HeadsScored:
    heads = (HeadScore(0, 0, 0.8, 0.1, 0.05), HeadScore(1, 0, 0.1, 0.1, induction))
    return HeadsScored(step, heads, icl, 2.5, 2.5 + icl)


def started(device: str = "cpu", peak: float | None = 200e9, source: str = "") -> TrainingStarted:
    return TrainingStarted(
        run_dir="/tmp/run", preset="seed", device=device, dtype="float32", tokenizer="word",
        vocab_size=50, n_params=1000, n_layer=2, n_head=1, n_embd=32, block_size=6,
        batch_size=16, start_step=0, max_steps=600, train_tokens=1000, val_tokens=100,
        step_flops=96_000_000, peak_flops=peak, peak_source=source,
    )  # fmt: skip


# -- the history and its verdicts ---------------------------------------------------------------


def test_a_blocks_update_ratio_is_the_mean_of_its_matrices_and_its_gradient_their_norm():
    reading = TrainingStats(
        10,
        (
            WeightStats("token_embedding", None, 3.0, 1.0, -2.0),
            WeightStats("qkv", 0, 3.0, 1.0, -2.0),
            WeightStats("mlp_in", 0, 4.0, 1.0, -4.0),
            WeightStats("mlp_out", 0, 0.0, 1.0, -math.inf),  # did not move: left out
            WeightStats("head", None, 1.0, 1.0, -3.0),
        ),
        (),
        (),
    )
    assert update_ratios(reading) == {"emb": -2.0, "L0": -3.0, "head": -3.0}
    assert grad_norms(reading) == {"emb": 3.0, "L0": 5.0, "head": 1.0}


def test_readings_are_found_at_or_before_a_step_and_a_resume_replaces_later_ones():
    history = LearningHistory()
    history.add([stats(100), stats(200), scored(200), stats(300)])
    assert history.steps == [100, 200, 300]
    assert history.stats_at(250).step == 200 and history.stats_at(None).step == 300
    assert history.stats_at(50) is None and history.scores_at(150) is None
    history.add([stats(200, ratio=-2.0)])  # resumed from the checkpoint at 200
    assert history.stats_steps == [100, 200] and history.stats_at().weights[0].update_ratio == -2
    assert history.update_ratios()["L0"] == [(100, -3.0), (200, -2.0)]


def test_a_phase_change_is_kept_once_and_named_for_the_chart():
    history = LearningHistory()
    detail = "induction head L1H0 formed at step 200: score 0.70"
    event = PhaseChanged(PhaseKind.INDUCTION, 200, 1, 0, 0.7, detail)
    history.add([event, event, PhaseChanged(PhaseKind.ICL, 300, None, None, -0.3, "ICL")])
    assert [(p.step, p.label, p.heading) for p in history.phases] == [
        (200, "L1H0 induction", "Induction head"),
        (300, "ICL jump", "In-context learning"),
    ]
    assert [p.step for p in history.phases_until(250)] == [200]
    # A task's two moments keep their own names and entries (they once both read "ICL jump",
    # the later replacing the earlier on the chart).
    history.add(
        [
            PhaseChanged(PhaseKind.MEMORISED, 400, None, None, 1.0, "memorised"),
            PhaseChanged(PhaseKind.GENERALISED, 900, None, None, 0.97, "generalised"),
        ]
    )
    assert [(p.step, p.label, p.heading) for p in history.phases[2:]] == [
        (400, "memorised", "Memorisation"),
        (900, "val turns", "Grokking"),
    ]


def test_updates_far_above_or_below_the_guide_are_warned_about_in_the_issues_words():
    assert times(-1.5) == "32×" and times(-3.0) == "1.0×" and times(-4.6) == "1/40"
    history = LearningHistory()
    history.add([stats(100, ratio=-1.5)])
    texts = [v.text for v in verdicts(history)]
    assert "layer 0's updates are 32× the guide: the learning rate may be too high" in texts
    assert "the embeddings' updates are 32× the guide: the learning rate may be too high" in texts
    history.add([stats(200, ratio=-4.6)])
    low = verdicts(history)[0]
    assert (
        low.text
        == "the embeddings' updates are 1/40 of the guide: the learning rate may be too low"
    )
    assert low.level == "warning" and low.heading == "Update-to-data ratio"
    history.add([stats(300, ratio=-2.5)])
    assert verdicts(history)[0].text.startswith("updates 3.2× the guide (−3) in every layer")
    assert "32× the guide" in verdicts(history, step=150)[0].text


def test_dead_units_gradient_spikes_and_large_scores_are_warned_about():
    history = LearningHistory()
    history.add([stats(s * 100) for s in range(1, 6)])
    history.add([stats(600, dead=0.18, grad=12.0, max_score=140.0)])
    warnings = {v.text: v.heading for v in verdicts(history) if v.level == "warning"}
    assert warnings["18% of layer 1's MLP units never fire on this batch"] == "Dead units"
    assert "layer 0's gradient is 12× its recent size: a spike" in warnings
    big = "head L0H0 scores up to 140: logits that large can destabilise training"
    assert warnings[big] == "Attention entropy and largest score"
    assert not [v for v in verdicts(history, step=500) if v.level == "warning"]


def test_induction_is_reported_as_formed_or_as_how_far_off_it_is():
    history = LearningHistory()
    history.add([stats(100), scored(100, induction=0.26)])
    texts = [v.text for v in verdicts(history)]
    assert "no induction head yet: best score 0.26 (L1H0), 0.40 counts as formed" in texts
    detail = "induction head L1H0 formed at step 200: score 0.70"
    history.add([scored(200, 0.7), PhaseChanged(PhaseKind.INDUCTION, 200, 1, 0, 0.7, detail)])
    texts = [v.text for v in verdicts(history)]
    assert detail in texts and not [t for t in texts if t.startswith("no induction")]
    assert detail not in [v.text for v in verdicts(history, step=150)]


def test_heads_with_no_induction_score_get_no_induction_verdict():
    """A modadd row is 3 tokens: the probe cannot score induction there (nan), so the view says
    nothing of it rather than "best score nan"."""
    history = LearningHistory()
    unscorable = (HeadScore(0, 0, 0.5, 0.6, math.nan), HeadScore(0, 1, 0.5, 0.5, math.nan))
    history.add([stats(100), HeadsScored(100, unscorable, math.nan, math.nan, math.nan)])
    assert not [v.text for v in verdicts(history) if "induction" in v.text]


def test_speed_is_mfu_on_a_gpu_measured_matmul_on_a_cpu_and_unknown_said_so():
    tokens_per_s = 16 * 6 * 100  # 100 steps a second of 96 MFLOP: 9.6 GFLOP/s
    cpu = speed_verdict(started("cpu", 200e9), tokens_per_s)
    assert cpu.text == "9.6 GFLOP/s achieved, 4.8% of this CPU's measured matmul rate 200 GFLOP/s"
    assert cpu.heading == "MFU"
    gpu = speed_verdict(started("cuda", 989e12), tokens_per_s * 10_000)
    assert gpu.text == "MFU 9.7%: 96 TFLOP/s of the GPU's bf16 peak 989 TFLOP/s"
    why = "NVIDIA T4: no bf16 peak known for this GPU"
    unknown = speed_verdict(started("cuda", None, why), tokens_per_s)
    assert unknown.text == f"9.6 GFLOP/s achieved; MFU unknown: {why}"
    assert speed_verdict(None, tokens_per_s) is None


def test_speed_at_a_step_is_the_rate_when_its_statistics_came():
    history = LearningHistory()
    history.add([started()])
    for step in range(1, 301):
        history.add([StepCompleted(step, 2.0, 1e-3, 0.5, 0.0, step * (0.1 if step <= 100 else 0.2),
                                   step * 96)])  # fmt: skip
        if step % 100 == 0:
            history.add([stats(step)])
    assert round(history.tokens_per_s_at(100)) == 960 and round(history.tokens_per_s_at()) == 480


def test_every_verdict_and_chart_names_a_glossary_entry():
    history = LearningHistory()
    history.add([started(), stats(100), stats(200), scored(200)])
    history.add([stats(s, dead=0.5, grad=100, max_score=500, entropy=0.01) for s in (300, 400)])
    history.add([PhaseChanged(PhaseKind.ICL, 400, None, None, -0.4, "ICL jumped")])
    named = {v.heading for v in verdicts(history)} | {chart.heading for chart in CHARTS}
    assert named <= set(headings())


def test_the_lens_trend_is_the_right_answers_mean_probability_per_row():
    fake = FakeEngine()
    lenses = {step: fake.logit_lens_at(step) for step in (100, 300)}
    trend = lens_sureness(lenses)
    assert list(trend) == ["emb", "L0", "L1"]
    assert trend["L1"] == [(100, 0.35), (300, 0.95)]


def test_stepping_moves_among_the_readings_and_past_the_last_follows_the_latest():
    steps = [100, 200, 300]
    assert step_before(steps, 250) == 200 and step_before(steps, None) == 300
    assert step_before(steps, 50) is None
    assert step_after(steps, None, -1) == 200 and step_after(steps, 200, -1) == 100
    assert step_after(steps, 100, -1) == 100 and step_after(steps, 200, 1) is None
    assert step_after(steps, None, 1) is None and step_after(steps, 250, 1) is None


# -- the tour and the loss chart ----------------------------------------------------------------


def test_the_tour_notes_the_first_induction_head_and_the_icl_jump_once():
    tour = Tour(["train", "learning", "learn"])
    first = tour.feed([PhaseChanged(PhaseKind.INDUCTION, 200, 1, 0, 0.7, "")])
    assert first.title == "Step 200: an induction head formed" and first.view == "learning"
    assert "L1H0" in first.text and first.heading == "Induction head"
    assert tour.feed([PhaseChanged(PhaseKind.INDUCTION, 300, 1, 1, 0.5, "")]) is None
    icl = tour.feed([PhaseChanged(PhaseKind.ICL, 400, None, None, -0.3, "")])
    assert icl.heading == "In-context learning" and "−" not in icl.title
    assert {first.heading, icl.heading} <= set(headings())


async def test_the_loss_chart_marks_a_phase_change_and_names_it():
    app, fake = make_app(FakeEngine(make_events(learning=True), live=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, fake)
        chart = app.query_one(LossChart)
        assert [(p.step, p.label) for p in chart.phases] == [(INDUCTION_FROM, "L1H0 induction")]
        await settle(pilot, lambda: "L1H0 induction" in rendered(chart))
        assert "phase change" in str(app.query_one("#chart-legend").render())


# -- widgets ------------------------------------------------------------------------------------


def rendered(widget) -> str:
    return "\n".join(line.text for line in widget.kept_lines())


WIDE = ("日本", "👩‍👩‍👧", "a\x1bb", "oh")


async def test_the_lens_grid_keeps_its_columns_in_line_with_wide_and_control_tokens():
    row = tuple(Candidate(i, text, 0.5) for i, text in enumerate(WIDE))
    lens = LogitLens(WIDE, (0, 1, 2, 3), ("embeddings", "block 0"), (row, row), ((0.1,) * 3,) * 2)
    grid = LensGrid()
    async with Holder(grid).run_test(size=(100, 10)) as pilot:
        grid.show(lens)
        await pilot.pause()
        lines = [line for line in grid.kept_lines() if line.text.strip()][:4]  # the grid's rows
        assert len({line.cell_length for line in lines}) == 1
        text = rendered(grid)
        assert "\x1b" not in text and "after block 0" in text and "日本" in text
        starts = [cell_len(line.text[: line.text.index("oh")]) for line in lines[:3]]
        assert len(set(starts)) == 1  # the last column starts at the same cell on every row


async def test_the_embedding_map_labels_tokens_by_their_cells_and_makes_them_visible():
    emap = EmbeddingMap(
        token_ids=(0, 1, 2, 3, 4),
        texts=(*WIDE, "x"),
        counts=(5, 4, 3, 2, 1),
        x=(-1.0, 1.0, -1.0, 1.0, 0.0),
        y=(1.0, 1.0, -1.0, -1.0, 0.0),
        labelled=4,
        explained=(0.5, 0.25),
    )
    plot = EmbeddingPlot()
    async with Holder(plot).run_test(size=(60, 16)) as pilot:
        plot.show(emap)
        await pilot.pause()
        text = rendered(plot)
        assert plot.labels_shown == 4
        assert "日本" in text and "👩‍👩‍👧" in text and "\x1b" not in text
        assert {line.cell_length for line in plot.kept_lines()} == {60}
        assert "1st principal component (50%)" in text and "2nd (25%)" in text


# -- the view -----------------------------------------------------------------------------------


async def open_learning(pilot, fake) -> LearningView:
    await loaded(pilot, fake)
    await pilot.press("6")
    view = pilot.app.query_one(LearningView)
    await settle(pilot, lambda: bool(view.query_one(HealthPane).verdicts))
    return view


def learning_app():
    return make_app(FakeEngine(make_events(learning=True, finished=True), live=False))


async def test_key_6_shows_every_chart_and_the_verdicts():
    app, fake = learning_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_learning(pilot, fake)
        assert app.current_view == "learning" and app.focused is view
        charts = list(view.query_one(HealthPane).query(SmallMultiple))
        assert len(charts) == len(CHARTS) and all(chart.figure.lines for chart in charts)
        texts = [v.text for v in view.query_one(HealthPane).verdicts]
        assert "induction head L1H0 formed at step 200: score 0.70" in texts
        assert any(t.startswith("250 MFLOP/s achieved") for t in texts)
        assert "step 300 (latest)" in str(app.query_one("#learning-info").render())
        assert fake.asked(fake.logit_lens_at) == []  # the lens is asked for only when shown


async def test_arrows_step_back_through_the_readings_and_end_returns_to_the_latest():
    app, fake = learning_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_learning(pilot, fake)
        await pilot.press("left", "left", "left")
        await pilot.pause()
        assert view.step_shown == 150
        assert "step 150 (3/6)" in str(app.query_one("#learning-info").render())
        texts = [v.text for v in view.query_one(HealthPane).verdicts]
        assert any(t.startswith("no induction head yet") for t in texts)
        assert app.query(SmallMultiple).first().figure.shown == 150
        await pilot.press("end")
        await pilot.pause()
        assert view.step_shown is None and app.query(SmallMultiple).first().figure.shown is None


async def test_enter_explains_the_picked_chart_or_verdict():
    app, fake = learning_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_learning(pilot, fake)
        learned: list[str] = []
        app.action_learn = learned.append
        await pilot.press("down", "enter")
        await pilot.pause()
        assert learned == ["Gradient norm and clipping"]
        pane = view.query_one(HealthPane)
        await pilot.press(*["down"] * len(CHARTS), "enter")
        await pilot.pause()
        assert learned[-1] == pane.verdicts[1].heading


async def test_the_lens_and_map_panes_ask_for_the_snapshot_shown_and_step_through_them():
    app, fake = learning_app()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_learning(pilot, fake)
        await pilot.press("l")
        grid = app.query_one(LensGrid)
        await settle(pilot, lambda: grid.lens is not None and len(view.lenses) == 3)
        assert grid.lens.step == 300 and fake.asked(fake.logit_lens_at)[0] == (300,)
        assert "after block 1" in rendered(grid)
        assert "snapshot 3/3, step 300" in str(app.query_one("#learning-info").render())
        trend = app.query_one("#lens-trend", SmallMultiple)
        await settle(pilot, lambda: len(trend.figure.lines) == 3)
        await pilot.press("left")
        await settle(pilot, lambda: grid.lens.step == 200)
        assert len(fake.asked(fake.logit_lens_at)) == 3  # stored ones are not asked again
        await pilot.press("m")
        plot = app.query_one(EmbeddingPlot)
        await settle(pilot, lambda: plot.map is not None)
        assert plot.map.step == 200 and fake.asked(fake.embedding_map_at) == [(200,)]
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_view == "learn"


async def test_a_replayed_step_cuts_the_charts_there():
    app, fake = learning_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_learning(pilot, fake)
        view.show_step(150, replay=True)
        await pilot.pause()
        figure = app.query(SmallMultiple).first().figure
        assert figure.x_range[1] == 150 and figure.shown is None and figure.marks == ()
        assert max(step for line in figure.lines for step, _ in line.points) == 150
        view.show_step(None)
        await pilot.pause()
        assert app.query(SmallMultiple).first().figure.x_range[1] == 300
