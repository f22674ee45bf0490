"""The TUI on a real engine worker: a tiny config, the real client, the real channel."""

from __future__ import annotations

import os
import time

import pytest
from textual.widgets import Input

from engine.process.client import EngineClient
from tests.conftest import PATIENCE_S, tiny_config
from tests.tui_helpers import settle
from tui.app import LlmLearnsApp
from tui.views.attention import AttentionView
from tui.widgets.attention.heatmap import AttentionHeatmap
from tui.widgets.generate.generation_output import GenerationOutput
from tui.widgets.generate.pipeline_table import PipelineTable
from tui.widgets.shell.run_header import RunHeader
from tui.widgets.train.loss_chart import LossChart


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
        os.kill(pid, 0)
    except (OSError, ChildProcessError):
        return True
    return False


@pytest.mark.slow
async def test_the_app_trains_generates_and_inspects_a_real_run(corpus, tmp_path):
    config = tiny_config(corpus, max_steps=1_000_000, eval_every=50)
    started: list[EngineClient] = []

    def connect() -> EngineClient:
        started.append(EngineClient.start(config, tmp_path / "run"))
        return started[0]

    app = LlmLearnsApp(connect=connect)
    async with app.run_test(size=(120, 40)) as pilot:
        header, chart = app.query_one(RunHeader), app.query_one(LossChart)
        await settle(pilot, lambda: header.step > 0, timeout=PATIENCE_S)
        first_step, first_points = header.step, len(chart.history)
        await settle(pilot, lambda: header.step > first_step + 20, timeout=PATIENCE_S)
        assert len(chart.history) > first_points  # the chart gains points

        await pilot.press("3")
        app.query_one("#gen-prompt", Input).value = "oh my"
        await pilot.press("enter", "enter")  # the prompt takes the keyboard, then submits
        output = app.query_one(GenerationOutput)
        wanted = int(app.query_one("#gen-max_new_tokens", Input).value)
        await settle(pilot, lambda: len(output.tokens) == wanted, timeout=PATIENCE_S)
        assert len(output.tokens) == wanted and output.text.strip()  # streamed text came back
        table = app.query_one(PipelineTable)  # the worker's tokens carry their logits
        assert table.token is output.tokens[-1] and table.pipeline is not None

        await pilot.press("escape", "2")
        field = app.query_one("#attn-input", Input)
        field.value = "oh my love you"
        field.focus()
        await pilot.press("enter")
        view = app.query_one(AttentionView)
        await settle(
            pilot, lambda: view.amap is not None and len(view.amap.tokens) == 4, timeout=30
        )
        assert app.query_one(AttentionHeatmap).cell_count == 4 * 4

        await pilot.press("escape", "q", "s")  # quit: stop and save
        await settle(pilot, lambda: not app.is_running, timeout=PATIENCE_S)
    pid = started[0].pid
    deadline = time.monotonic() + PATIENCE_S
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid), "the worker outlived the app"
    assert (tmp_path / "run" / "model.safetensors").exists()
