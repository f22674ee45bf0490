"""End-to-end tests of the engine worker process, driven through the real client."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from pathlib import Path

import pytest

from engine import (
    CheckpointSaved,
    EngineError,
    EngineFailed,
    EvalCompleted,
    LossNotFinite,
    PauseCause,
    RunState,
    SampleConfig,
    SampleGenerated,
    StepCompleted,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
)
from engine.process.client import EngineClient
from engine.runs.files import INFO_FILE, KEY_FILE
from engine.runs.listing import summarize_run
from engine.runs.liveness import worker_info
from tests.conftest import PATIENCE_S, alive, tiny_config


class Follower:
    """Reads a client's events on a thread, like the TUI does."""

    def __init__(self, client: EngineClient):
        self.events: list = []
        self.thread = threading.Thread(target=self._read, args=(client,), daemon=True)
        self.thread.start()

    def _read(self, client: EngineClient) -> None:
        for event in client.events():
            self.events.append(event)

    def wait_for(self, predicate, timeout: float = PATIENCE_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.01)
        raise AssertionError(f"no matching event within {timeout}s; last: {self.events[-3:]}")

    def steps(self) -> list[int]:
        return [e.step for e in self.events if isinstance(e, StepCompleted)]


def _start(corpus, tmp_path, workers, **train) -> EngineClient:
    client = EngineClient.start(tiny_config(corpus, **train), tmp_path / "run")
    workers.append(client.pid)
    return client


def test_events_arrive_in_order_and_complete(corpus, tmp_path, workers):
    with _start(corpus, tmp_path, workers, max_steps=40) as client:
        follower = Follower(client)
        follower.wait_for(lambda e: isinstance(e, TrainingFinished))
        assert client.status().state == "finished"
    kinds = [type(e) for e in follower.events]
    assert kinds[0] is TrainingStarted and kinds[1] is EvalCompleted
    assert follower.steps() == list(range(1, 41))
    assert isinstance(follower.events[-1], TrainingFinished)
    assert SampleGenerated in kinds and CheckpointSaved in kinds


def test_pause_stops_steps_until_resume(corpus, tmp_path, workers):
    with _start(corpus, tmp_path, workers, max_steps=100_000, eval_every=1000) as client:
        follower = Follower(client)
        follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step >= 5)
        client.pause()
        follower.wait_for(lambda e: isinstance(e, TrainingPaused))
        paused_at = len(follower.steps())
        time.sleep(1.0)
        assert len(follower.steps()) == paused_at
        assert client.status().state == "paused"
        client.resume()
        follower.wait_for(lambda e: isinstance(e, TrainingResumed))
        follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step > paused_at + 5)


def test_generate_and_attention_while_training(corpus, tmp_path, workers):
    with _start(corpus, tmp_path, workers, max_steps=100_000, eval_every=1000) as client:
        follower = Follower(client)
        follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step >= 3)
        generation = client.generate("oh my zebra")
        tokens = list(generation)
        assert generation.unknown == ["zebra"]
        assert len(tokens) == 8 and all(t.candidates for t in tokens)
        attention = client.attention("oh my love you")
        assert attention.shape == (2, 2, 4, 4)
        assert abs(sum(attention.row(1, 1, 3)) - 1) < 1e-5
        assert client.attention_steps() == [0]
        assert client.attention_at(0).tokens  # the probe: the corpus's first line
        assert client.status().state == "running"


def test_trace_token_losses_and_head_roles_while_training(corpus, tmp_path, workers):
    from engine import head_roles

    with _start(corpus, tmp_path, workers, max_steps=100_000, eval_every=1000) as client:
        Follower(client).wait_for(lambda e: isinstance(e, StepCompleted) and e.step >= 2)
        trace = client.trace("oh my love zebra", 1)
        assert trace.tokens[:3] == ("oh", "my", "love") and trace.position == 1
        assert trace.unknown == ("zebra",) and trace.step >= 2
        assert trace.stages[-1].kind == "top_candidates" and trace.candidates
        assert dict((s.kind, s.shape) for s in trace.stages)["scores"] == (2, 4, 4)
        assert sum(part.params for part in trace.parts) == trace.n_params
        assert [(r.layer, r.head) for r in trace.roles] == [(0, 0), (0, 1), (1, 0), (1, 1)]
        with pytest.raises(EngineError, match="outside the text"):
            client.trace("oh my", 5)
        passage = client.token_losses()
        assert len(passage.losses) == 16 and passage.mean > 0
        roles = head_roles(client.attention_at(0))
        assert len(roles) == 4 and client.status().state == "running"


def test_stop_writes_a_checkpoint(corpus, tmp_path, workers):
    with _start(corpus, tmp_path, workers, max_steps=100_000, eval_every=1000) as client:
        follower = Follower(client)
        follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step >= 5)
        client.stop()
        saved = follower.wait_for(lambda e: isinstance(e, CheckpointSaved) and e.step > 0)
        finished = follower.wait_for(lambda e: isinstance(e, TrainingFinished))
        assert finished.reason == "stopped" and saved.step == finished.step
        assert Path(saved.path).exists()
        assert client.status().state == "stopped"
        assert len(list(client.generate("oh"))) == 8  # the model stays loaded to play with


def test_detached_run_survives_its_client_and_replays_on_attach(corpus, tmp_path, workers):
    client = EngineClient.start(
        tiny_config(corpus, max_steps=100_000, eval_every=1000), tmp_path / "run", detach=True
    )
    workers.append(client.pid)
    first = Follower(client)
    first.wait_for(lambda e: isinstance(e, StepCompleted) and e.step >= 3)
    client.close()
    seen = max(first.steps())
    time.sleep(0.5)
    assert alive(workers[0])
    again = EngineClient.attach(tmp_path / "run")
    follower = Follower(again)
    follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step > seen + 20)
    steps = follower.steps()
    assert steps[:seen] == list(range(1, seen + 1))  # history first, in order, then live
    again.shutdown()


def test_killing_the_worker_reports_engine_failed_with_the_signal(corpus, tmp_path, workers):
    with _start(corpus, tmp_path, workers, max_steps=100_000, eval_every=1000) as client:
        follower = Follower(client)
        follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step >= 3)
        os.kill(client.pid, signal.SIGKILL)
        # Told by the connection closing, not by a timeout: the exit code is the kill's.
        failed = follower.wait_for(lambda e: isinstance(e, EngineFailed))
        assert "SIGKILL" in failed.reason and failed.exit_code == -9
        assert failed.last_checkpoint and Path(failed.last_checkpoint).exists()
    assert summarize_run(tmp_path / "run").state == "failed"


def test_a_huge_learning_rate_pauses_with_the_last_good_checkpoint(corpus, tmp_path, workers):
    with _start(corpus, tmp_path, workers, lr=1e6, min_lr=0.0, grad_clip=0.0) as client:
        follower = Follower(client)
        paused = follower.wait_for(lambda e: isinstance(e, TrainingPaused))
        bad = next(e for e in follower.events if isinstance(e, LossNotFinite))
        assert paused.cause is PauseCause.NOT_FINITE
        assert f"the {bad.what} became" in paused.detail and "last good checkpoint" in paused.detail
        assert client.status().state is RunState.PAUSED
        client.save()  # the bad step was never applied, so this saves the last good weights
        from engine import Trainer

        reloaded = Trainer.resume(tmp_path / "run")
        assert all(p.isfinite().all() for p in reloaded.model.parameters())


def test_a_second_client_can_attach(corpus, tmp_path, workers):
    with _start(corpus, tmp_path, workers, max_steps=100_000, eval_every=1000) as client:
        Follower(client).wait_for(lambda e: isinstance(e, StepCompleted))
        with EngineClient.attach(tmp_path / "run") as second:
            follower = Follower(second)
            follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step > 10)
            assert second.status().clients == 2
            assert second.pid == client.pid


def test_channel_files_are_private(corpus, tmp_path, workers):
    with _start(corpus, tmp_path, workers, max_steps=100_000, eval_every=1000):
        run = tmp_path / "run"
        address = Path(worker_info(run)["address"])
        for path in (run / KEY_FILE, run / INFO_FILE, address):
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        assert stat.S_IMODE(address.parent.stat().st_mode) == 0o700
    assert not (run / KEY_FILE).exists() and not address.exists()


def test_bad_corpus_fails_before_anything_is_written(tmp_path, workers):
    from engine import CorpusError, EngineError

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe not text")
    with pytest.raises(EngineError, match="is not UTF-8 text"):
        EngineClient.start(tiny_config(bad), tmp_path / "run")
    with pytest.raises(CorpusError, match="does not exist"):
        EngineClient.start(tiny_config(tmp_path / "missing.txt"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_owner_can_detach_and_the_run_keeps_training(corpus, tmp_path, workers):
    client = _start(corpus, tmp_path, workers, max_steps=100_000, eval_every=1000)
    Follower(client).wait_for(lambda e: isinstance(e, StepCompleted))
    client.detach()
    time.sleep(0.5)
    assert alive(workers[0])
    with EngineClient.attach(tmp_path / "run") as again:
        assert again.status().state == "running"
        again.shutdown()


def _finish(corpus, tmp_path, workers, max_steps: int) -> Path:
    """Train a tiny run to its end and let its worker exit; returns the run directory."""
    with _start(corpus, tmp_path, workers, max_steps=max_steps) as client:
        Follower(client).wait_for(lambda e: isinstance(e, TrainingFinished))
    return tmp_path / "run"


def test_attaching_to_a_run_whose_worker_ended_loads_it_without_training(corpus, tmp_path, workers):
    run_dir = _finish(corpus, tmp_path, workers, max_steps=20)
    assert worker_info(run_dir) is None  # the worker is gone, and said so
    with EngineClient.attach(run_dir) as client:
        workers.append(client.pid)
        follower = Follower(client)
        follower.wait_for(lambda e: isinstance(e, TrainingFinished))
        assert client.status().state is RunState.FINISHED
        assert len(list(client.generate("oh", SampleConfig(max_new_tokens=3)))) == 3
        time.sleep(0.3)
        assert follower.steps() == list(range(1, 21))  # the history, and no new step
    with pytest.raises(EngineError, match="not a run directory"):
        EngineClient.attach(tmp_path / "nowhere")


def test_resume_through_the_worker_continues_where_the_run_stopped(corpus, tmp_path, workers):
    run_dir = _finish(corpus, tmp_path, workers, max_steps=20)
    with EngineClient.resume_run(run_dir, {"train": {"max_steps": 30}}) as client:
        workers.append(client.pid)
        follower = Follower(client)
        follower.wait_for(lambda e: isinstance(e, TrainingFinished) and e.step == 30)
        assert client.status().state is RunState.FINISHED
    starts = [e for e in follower.events if isinstance(e, TrainingStarted)]
    assert [(s.start_step, s.resumed) for s in starts] == [(0, False), (20, True)]
    assert follower.steps() == list(range(1, 31))  # replayed 1-20, then 21-30 live
    assert summarize_run(run_dir).state is RunState.FINISHED


def test_inside_and_attention_take_any_text_and_training_goes_on(corpus, tmp_path, workers):
    """Empty, longer than the context (16 tokens), all unknown, undecodable bytes: each is
    answered, over the wire, while the run trains; a position outside the text is refused."""
    with _start(corpus, tmp_path, workers, max_steps=100_000, eval_every=1000) as client:
        follower = Follower(client)
        follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step >= 2)
        texts = {"": ["\n"], "oh my love " * 10: ["oh", "my", "love"] * 5 + ["oh"]}
        texts |= {"zebra quokka": ["<unk>", "<unk>"], "oh \udcff\x1b": ["oh", "<unk>", "<unk>"]}
        for text, tokens in texts.items():
            attention = client.attention(text)
            trace = client.trace(text)
            assert attention.tokens == tokens and list(trace.tokens) == tokens, text
            assert attention.shape == (2, 2, len(tokens), len(tokens))
            assert attention.truncated == trace.truncated == (len(text) > 100)
            assert (
                attention.unknown
                == list(trace.unknown)
                == [w for w in ("zebra", "quokka", "\udcff", "\x1b") if w in text]
            )
            assert trace.position == len(tokens) - 1 and trace.candidates
        with pytest.raises(EngineError, match="position 16 is outside the text's 16 tokens"):
            client.trace("oh my love " * 10, 16)
        before = client.status().step
        follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step > before)
        assert client.status().state is RunState.RUNNING


def test_a_look_that_fails_is_refused_and_the_run_trains_on(corpus, tmp_path, monkeypatch):
    """A bug (or the GPU's memory running out) in serving a trace is that request's failure."""
    from engine.process.worker import Worker
    from engine.training.trainer import Trainer

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the trace")

    monkeypatch.setattr("engine.process.worker.trace", broken)
    config = tiny_config(corpus, max_steps=100_000, eval_every=1000)
    trainer = Trainer.create(config, tmp_path / "run")
    trainer.open_run_dir()
    worker = Worker(trainer, detached=True, idle=False)
    serving = threading.Thread(target=worker.run, daemon=True)
    serving.start()
    try:
        with EngineClient(worker.run_dir) as client:
            follower = Follower(client)
            with pytest.raises(EngineError, match="RuntimeError: a bug in the trace"):
                client.trace("oh my")
            step = client.status().step
            follower.wait_for(lambda e: isinstance(e, StepCompleted) and e.step > step + 2)
            assert client.status().state is RunState.RUNNING
            assert client.attention("oh my").shape == (2, 2, 2, 2)
    finally:
        worker.signalled = True
        serving.join(PATIENCE_S)
    assert not serving.is_alive()


def test_a_stream_begun_after_its_worker_failed_says_why(tmp_path):
    """A big corpus found bad as it is read ends the worker; a client that asks for the stream a
    moment later (a loaded machine) gets the worker's reason, not "no worker is running"."""
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "worker.log").write_text(
        "cpu policy: nice=0\nerror: corpus bad.txt is not UTF-8 text (bad byte at offset 9)\n"
    )
    ended = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    ended.wait()
    client = EngineClient.__new__(EngineClient)  # as start() leaves it: connected, then alone
    client.run_dir, client._process, client._closed = run_dir, ended, False
    assert list(client.events()) == [
        EngineFailed("corpus bad.txt is not UTF-8 text (bad byte at offset 9)", 2, None)
    ]


def test_the_learning_arrives_with_the_history_and_the_lens_and_map_answer(
    corpus, tmp_path, workers
):
    from engine import HeadsScored, TrainingStats

    with _start(corpus, tmp_path, workers, max_steps=20, eval_every=10, stats_every=5) as client:
        Follower(client).wait_for(lambda e: isinstance(e, TrainingFinished))
    run_dir = tmp_path / "run"
    with EngineClient.attach(run_dir) as client:
        workers.append(client.pid)
        follower = Follower(client)
        follower.wait_for(lambda e: isinstance(e, TrainingFinished))
        stats = [e.step for e in follower.events if isinstance(e, TrainingStats)]
        scored = [e.step for e in follower.events if isinstance(e, HeadsScored)]
        assert stats == [5, 10, 15, 20] and scored == [0, 10, 20]
        assert client.attention_steps() == [0, 10, 20]
        stored = client.logit_lens_at(10)
        assert stored.step == 10 and len(stored.layers) == 3 and stored.tokens
        now = client.logit_lens("oh my love zebra")
        assert now.step == 20 and now.unknown == ("zebra",) and len(now.top[0]) == 4  # <unk>
        embedding_map = client.embedding_map_at(20)
        assert embedding_map.step == 20 and len(embedding_map.x) == len(embedding_map.token_ids)
        with pytest.raises(EngineError, match="no logit lens stored at step 7"):
            client.logit_lens_at(7)


def test_experiments_on_a_paused_task_run_leave_its_training_as_it_was(tmp_path, workers):
    from engine import (
        Ablation,
        AblationMethod,
        AblationPart,
        DataConfig,
        ModelConfig,
        RunConfig,
        TrainConfig,
    )

    config = RunConfig(
        preset="tiny-modadd",
        data=DataConfig(task="modadd", modulus=7),
        model=ModelConfig(block_size=3, n_layer=1, n_head=2, n_embd=16),
        train=TrainConfig(max_steps=100_000, eval_every=1000, eval_batches=1, device="cpu"),
    )
    with EngineClient.start(config, tmp_path / "run") as client:
        workers.append(client.pid)
        Follower(client).wait_for(lambda e: isinstance(e, StepCompleted) and e.step >= 2)
        client.pause()
        step = client.status().step
        result = client.ablate(Ablation(AblationPart.HEAD, 0, 1, AblationMethod.MEAN), "3 4 = 0")
        assert result.tokens == ("3", "4", "=", "0") and result.step == step
        assert result.val_accuracy is not None and result.ablated_val_accuracy is not None
        table = client.head_importance()
        assert sorted((row.layer, row.head) for row in table.heads) == [(0, 0), (0, 1)]
        passage = client.game_passage(4)
        assert passage.tokens[2] == "=" and passage.asked == (3,)
        scored = client.guess(4, 3, passage.tokens[3])
        assert scored.correct and scored.step == step
        with pytest.raises(EngineError, match="no block 5"):
            client.ablate(Ablation(AblationPart.MLP, 5), "3 4 = 0")
        assert client.status().step == step
