"""Unit tests of the TUI's pure helpers: loss history, downsampling, ticks, token labels."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

from engine import token_label
from tui.format import format_duration, format_rate
from tui.views.attention import probe_from_sample
from tui.widgets.attention_bars import bar
from tui.widgets.head_grid import pool
from tui.widgets.loss_chart import LossHistory, nice_ticks

ROOT = Path(__file__).resolve().parent.parent


def test_ema_is_debiased_from_the_first_step():
    history = LossHistory(smoothing=0.9)
    history.add_step(1, 4.0, 10)
    assert history.ema[0] == 4.0  # not 0.4, as a plain EMA starting at 0 would give
    history.add_step(2, 2.0, 20)
    assert 2.0 < history.ema[1] < 4.0


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
        timeout=60,
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
        timeout=30,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert out.stdout.strip() == "False", out.stderr
