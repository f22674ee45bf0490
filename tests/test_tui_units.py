"""Unit tests of the TUI's pure helpers: loss history, downsampling, ticks, token labels."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.cells import cell_len

from engine import Candidate, GeneratedToken, PassageLosses, SampleConfig, TopLogits, token_label
from tests.conftest import PATIENCE_S
from tests.tui_helpers import Holder
from tui.format import (
    cell_label,
    fit,
    format_duration,
    format_rate,
    probability,
    unknown_words,
)
from tui.state.loss_history import MAX_EVALS, MAX_POINTS, RECENT, LossHistory
from tui.views.attention import probe_from_sample
from tui.widgets.attention.attention_bars import MAX_BARS, AttentionBars
from tui.widgets.attention.head_grid import pool
from tui.widgets.attention.heatmap import LABEL_WIDTH, AttentionHeatmap
from tui.widgets.drawing import bar
from tui.widgets.generate.candidate_bars import CandidateBars
from tui.widgets.generate.pipeline_table import PipelineTable
from tui.widgets.plotext_lines import log_ticks, nice_ticks
from tui.widgets.train.surprise_passage import SurprisePassage

ROOT = Path(__file__).resolve().parent.parent


def test_ema_is_debiased_from_the_first_step():
    history = LossHistory(smoothing=0.9)
    history.add_step(1, 4.0, 10)
    assert history.ema[0] == 4.0  # not 0.4, as a plain EMA starting at 0 would give
    history.add_step(2, 2.0, 20)
    assert 2.0 < history.ema[1] < 4.0


def test_a_merged_point_weighs_as_the_steps_it_stands_for():
    """A history replayed in brief sends one StepCompleted for `merged` steps: the chart's mean
    and EMA match those of the steps one by one (with a constant loss per run)."""
    one_by_one, merged = LossHistory(smoothing=0.9), LossHistory(smoothing=0.9)
    for step in range(1, 101):
        one_by_one.add_step(step, 3.0 if step <= 50 else 1.0, step)
    merged.add_step(50, 3.0, 50, weight=50)
    merged.add_step(100, 1.0, 100, weight=50)
    assert merged.weight == [50, 50]
    assert merged.ema[-1] == pytest.approx(one_by_one.ema[-1])
    assert merged.downsampled(1)[2] == pytest.approx(one_by_one.downsampled(1)[2])
    merged.set_smoothing(0.9)
    assert merged.ema[-1] == pytest.approx(one_by_one.ema[-1])


def test_changing_smoothing_recomputes_the_ema():
    history = LossHistory(smoothing=0.9)
    for step in range(1, 101):
        history.add_step(step, float(step % 2), step)
    history.set_smoothing(0.0)
    assert history.ema == history.loss


def test_downsampling_keeps_at_most_the_requested_points():
    history = LossHistory()
    for step in range(1, 100_001):
        history.add_step(step, 1.0 + 1 / step, step * 64)
    steps, tokens, loss, ema = history.downsampled(240)
    assert len(steps) == len(loss) == len(ema) == len(tokens) <= 240
    assert steps[-1] == 100_000


def test_non_finite_loss_is_not_plotted_and_resume_rewinds():
    history = LossHistory()
    for step in range(1, 11):
        history.add_step(step, 1.0, step)
    history.add_step(11, math.nan, 11)
    assert len(history) == 10
    history.add_step(6, 2.0, 6)  # a run resumed from its step-5 checkpoint
    assert history.steps[-1] == 6 and len(history) == 6


def test_ticks_are_round_and_short():
    ticks, labels = nice_ticks(0, 100_000)
    assert ticks == [0, 20_000, 40_000, 60_000, 80_000, 100_000]
    assert labels[1] == "20k"


def test_tokens_are_made_visible():
    assert token_label(" a\n") == "␣a⏎"
    assert token_label("\t\x00") == "⇥␀"
    assert token_label("") == "∅"


def test_pool_and_bars():
    matrix = [[1.0 if k <= q else 0.0 for k in range(32)] for q in range(32)]
    assert len(pool(matrix, 16)) == 16
    assert bar(1.0, 4) == "████" and bar(0.0, 4) == "    "


def test_probe_from_sample_takes_a_line():
    assert probe_from_sample("\n\noh my love\nbaby") == "oh my love"
    assert len(probe_from_sample("word " * 40)) <= 60


def test_a_probability_reads_one_way_and_never_0_for_a_non_zero_value():
    cases = {
        1.0: "100%", 0.9996: ">99%", 0.5: "50%", 0.1: "10%", 0.094: "9.4%", 0.01: "1.0%",
        0.0036: "0.36%", 0.001: "0.10%", 0.00099: "<0.1%", 1e-9: "<0.1%", 0.0: "0%",
    }  # fmt: skip
    assert {p: probability(p) for p in cases} == cases
    assert max(len(probability(p / 10_000)) for p in range(10_001)) == 5


P = 0.0036  # #24: "p 0%" in where-wrong, "0%" among the candidates, "<1%" beside them, "p 0.00"


async def test_the_same_probability_reads_the_same_in_every_widget():
    other = 1 - P
    guesses = (Candidate(1, "oh", other), Candidate(2, "my", P))
    passage = PassageLosses(("oh", "my"), (1, 2), (-math.log(P),), (guesses,), -math.log(P))
    wrong = SurprisePassage()
    async with Holder(wrong).run_test(size=(80, 12)):
        wrong.show(passage)
        text = wrong.render().plain
        assert "(p 0.36%)" in text and "my✓ 0.36%" in text
    logits = TopLogits((1, 2), ("oh", "my"), (0.0, math.log(P / other)), 0.0, 2)
    token = GeneratedToken(2, "my", P, guesses, logits)
    candidates = CandidateBars()
    async with Holder(candidates).run_test(size=(60, 12)):
        candidates.show(token, 0, SampleConfig())
        lines = candidates.render().plain.splitlines()
        assert lines[0].endswith("drawn, p 0.36%")
        assert lines[2].split()[-2:] == ["0.36%", "◀"]
    table = PipelineTable()
    async with Holder(table).run_test(size=(44, 12)):
        table.show(token, 0, SampleConfig())
        table.set_settings(SampleConfig())
        row = next(line for line in table.render().plain.splitlines() if line.startswith("my"))
        assert row.split()[1:5] == ["0.36%"] * 4


def test_unknown_words_come_once_and_as_many_as_fit():
    words = ["zebra", "xylophone", "zebra", "yak", "x\x1b[2J"]
    assert unknown_words(words, 80) == "not in vocabulary: zebra, xylophone, yak, x␛[2J"
    assert unknown_words(words, 43) == "not in vocabulary: zebra, xylophone +2 more"
    assert unknown_words(words, 20) == "4 not in vocabulary"
    assert unknown_words(words, 10) == "4 unknown"
    assert unknown_words(words, 5) == unknown_words([], 80) == ""


def test_formatting():
    assert format_duration(3725) == "1:02:05" and format_duration(65) == "1:05"
    assert format_rate(1234) == "1.2k" and format_rate(999) == "999"


def test_ui_has_not_imported_torch_at_the_first_frame():
    script = textwrap.dedent("""
        import sys
        from tests.tui_fakes import FakeEngine
        from tui.app import LlmLearnsApp

        seen = []

        async def first_frame(pilot):
            seen.append("torch" in sys.modules)
            pilot.app.exit(0)

        app = LlmLearnsApp(connect=lambda: FakeEngine(live=False))
        app.run(headless=True, size=(80, 24), auto_pilot=first_frame)
        print("TORCH" if seen != [False] else "NO-TORCH")
    """)
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PATIENCE_S,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert out.stdout.strip().endswith("NO-TORCH"), out.stderr[-2000:]


def test_tui_package_import_does_not_load_textual():
    code = "import sys, tui; print('textual' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PATIENCE_S,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert out.stdout.strip() == "False", out.stderr


# Wide, joined and zero-width graphemes, and a control sequence: a word tokenizer can cut a
# joined emoji into its parts, so a lone joiner (U+200D) is a token too.
WIDE = ["日本", "👩‍👩‍👧", "🇫🇷", "a", "e\u0301", "❤️", "x\x1b[2J", "longlonglonglong", "\u200d"]


async def test_heatmap_rows_keep_one_width_whatever_the_labels():
    heatmap = AttentionHeatmap()
    async with Holder(heatmap).run_test(size=(100, 30)):
        T = len(WIDE)
        matrix = [[1 / (q + 1) if k <= q else 0.0 for k in range(T)] for q in range(T)]
        heatmap.show(WIDE, matrix)
        lines = heatmap.render().split("\n")
        grid = lines[:-1]  # the key labels and one row per query; the legend line is shorter
        assert len(grid) == heatmap._label_rows() + T
        assert {line.cell_len for line in grid} == {LABEL_WIDTH + 2 + 2 * T}
        assert all("\x1b" not in line.plain for line in lines)


async def test_bars_start_at_one_column_whatever_the_labels():
    bars = AttentionBars()
    async with Holder(bars).run_test(size=(60, 20)):
        bars.show(WIDE, len(WIDE) - 1, [1 / len(WIDE)] * len(WIDE))
        rows = bars.render().plain.splitlines()[1:]
        assert len(rows) == MAX_BARS
        assert len({cell_len(row[: row.index("%")]) for row in rows}) == 1
    candidates = CandidateBars()
    async with Holder(candidates).run_test(size=(60, 20)):
        picks = tuple(Candidate(i, text, 0.1) for i, text in enumerate(WIDE))
        candidates.show(GeneratedToken(0, WIDE[0], 0.1, picks))
        rows = candidates.render().plain.splitlines()[1:]
        assert len({cell_len(row[: row.index("%")]) for row in rows}) == 1


def test_cell_labels_spell_out_what_has_no_width():
    assert cell_label("\u200d") == "<U+200D>" and cell_label("\u0301") == "<U+0301>"
    assert cell_label("👩‍👩‍👧") == "👩‍👩‍👧" and cell_label(" \x1b") == "␣␛"


def test_fit_cuts_and_pads_by_cells():
    assert fit("日本語", 4) == "日… " and fit("ab", 4, "right") == "  ab"
    for text in map(cell_label, WIDE):
        for width in range(1, 9):
            assert cell_len(fit(text, width)) == width
            assert cell_len(fit(text, width, "right")) == width


def test_log_ticks_are_round_losses():
    positions, labels = log_ticks(0.97, 4.3)
    assert labels == ["1", "2", "3"]
    assert positions == [math.log10(1), math.log10(2), math.log10(3)]
    assert log_ticks(0.01, 10)[1] == ["0.01", "0.1", "1", "10"]
    assert len(log_ticks(1.1, 1.3)[1]) >= 2  # a narrow range still gets ticks


def test_loss_history_stays_bounded_and_keeps_its_mean():
    history = LossHistory()
    for step in range(1, 100_001):
        history.add_step(step, 1.0 + (step % 10) / 10, step * 64)
    assert len(history) <= MAX_POINTS
    assert history.steps[-1] == 100_000 and history.steps == sorted(set(history.steps))
    assert sum(history.weight) == 100_000
    mean = sum(loss * w for loss, w in zip(history.loss, history.weight, strict=True)) / 100_000
    assert mean == pytest.approx(1.45)
    assert history.steps[-RECENT:] == list(range(100_001 - RECENT, 100_001))  # recent: all kept
    steps, _, loss, _ = history.downsampled(240)
    assert len(steps) <= 240 and steps[-1] == 100_000


def test_val_points_stay_bounded():
    history = LossHistory()
    for step in range(1, 10 * MAX_EVALS):
        history.add_eval(step, 1.0)
    assert len(history.val) <= MAX_EVALS and history.val[-1][0] == 10 * MAX_EVALS - 1
