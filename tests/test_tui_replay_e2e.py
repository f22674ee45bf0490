"""Replay on a real worker: a finished run opened as `llmlearns-tui replay` opens it, Generate and
Inside answered from its kept weights, and the run's files left as they were."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from textual.widgets import Input

from engine import SampleGenerated, Trainer
from engine.process.client import EngineClient
from tests.conftest import tiny_config
from tests.tui_helpers import settle
from tui.app import LlmLearnsApp
from tui.views.generate import GenerateView
from tui.views.inside import InsideView
from tui.widgets.generate.generation_output import GenerationOutput
from tui.widgets.train.sample_log import SampleLine


def fingerprint(run) -> dict[str, str]:
    """Every file of the run but the worker's own (its address, key and log) by content."""
    return {
        str(path.relative_to(run)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run.rglob("*"))
        if path.is_file() and not path.name.startswith("worker.")
    }


@pytest.mark.slow
async def test_a_replayed_finished_run_answers_from_its_kept_weights(corpus, tmp_path, workers):
    config = tiny_config(corpus, max_steps=30, eval_every=10)
    config = replace(config, train=replace(config.train, keep_checkpoints=4))
    run = tmp_path / "run"
    trainer = Trainer.create(config, run)
    samples = {e.step: e.text for e in trainer.events() if isinstance(e, SampleGenerated)}
    trainer.close()
    before = fingerprint(run)

    def connect() -> EngineClient:
        client = EngineClient.attach(run)
        workers.append(client.pid)
        return client

    app = LlmLearnsApp(connect=connect, replay=True)
    app.replay_tick_s = 3600  # the test moves the replay itself
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.replay.replaying, timeout=60)
        assert app.replay.end == 30
        await pilot.press("space")
        app.replay.seek(14)
        await pilot.pause()
        assert [line.step for line in app.query(SampleLine) if line.display] == [0, 10]

        await pilot.press("3")
        view = app.query_one(GenerateView)
        app.query_one("#gen-prompt", Input).value = config.sample.prompt
        app.query_one("#gen-max_new_tokens", Input).value = str(config.sample.max_new_tokens)
        await pilot.press("enter", "enter")
        output = app.query_one(GenerationOutput)
        await settle(pilot, lambda: view.drawn_at is not None and not view.generating, timeout=60)
        assert view.drawn_at == 10  # the kept step before 14, and it says so
        assert config.sample.prompt + output.text == samples[10]  # what the run sampled then
        assert "step 10's kept weights (the nearest kept before 14)" in str(
            app.query_one("#gen-status").render()
        )

        await pilot.press("5")  # (esc would go back to live: the prompt gave the keyboard back)
        inside = app.query_one(InsideView)
        await settle(pilot, lambda: inside.trace is not None, timeout=60)
        assert inside.trace.step == 10 and inside.kept == [0, 10, 20, 30]
        app.replay.seek(25)
        await settle(pilot, lambda: inside.trace.step == 20, timeout=60)
        await pilot.press("escape")  # live: the run as it ended
        await settle(pilot, lambda: inside.trace.step == 30, timeout=60)
        app.exit(0)
    assert fingerprint(run) == before  # replay only read the run
