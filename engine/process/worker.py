"""The engine worker: one process that owns one run and serves its clients between training steps.
The process around it (arguments, signals, its log, start-up errors): process/worker_process.py.

Training advances one step per loop turn; before each step the worker answers whatever requests
have arrived, so a request waits for the step in progress, and training stands still while one is
served: a whole generation, trace or attention capture runs between two steps, on the same weights
throughout. The model stays loaded while paused, stopped or finished, to be sampled and inspected.
SIGINT and SIGTERM checkpoint and exit; SIGHUP is ignored (a closed terminal must not end a run; a
non-detached worker ends when its owner disconnects). A big corpus is tokenised on a thread after
the worker listens (process/preparation.py), so clients see its progress; a small one before, so
that its errors reach the starting client directly.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, cast

import torch

from engine.contract.errors import EngineError
from engine.contract.events import (
    EngineFailed,
    Event,
    FinishReason,
    HistoryProgress,
    HistoryReplayed,
    PauseCause,
    StepCompleted,
    TrainingFinished,
)
from engine.contract.outputs import RunStatus
from engine.contract.requests import (
    REQUEST_TYPES,
    Ablate,
    AblationReply,
    Attention,
    AttentionAt,
    AttentionSteps,
    Detach,
    Done,
    EmbeddingMapReply,
    EmbeddingsAt,
    GameRound,
    GameRoundReply,
    Generate,
    GenerationEnded,
    GenerationStarted,
    Guess,
    GuessReply,
    Hello,
    ImportanceReply,
    KeptSteps,
    Lens,
    LensAt,
    LensReply,
    Pause,
    RankHeads,
    Refused,
    Request,
    Resume,
    SampleNow,
    Save,
    Shutdown,
    Status,
    StatusReply,
    StepsReply,
    Stop,
    Subscribe,
    TokenLosses,
    TokenLossesReply,
    TokenSampled,
    Trace,
    TraceReply,
)
from engine.contract.run_state import RunState, advance, settled
from engine.lens.surprise import passage_losses
from engine.lens.timelapse import load_lens, load_map, load_snapshot, snapshot_steps
from engine.lens.trace import trace
from engine.model.generate import TOP_LOGITS
from engine.process import cpu_policy
from engine.process.channel import (
    HISTORY,
    close_listener,
    listen,
    receive,
    send_attention,
    send_event_line,
    send_record,
)
from engine.process.launch import agent_pid
from engine.process.preparation import Preparation
from engine.process.thread_tuner import ThreadTuner
from engine.runs.files import INFO_FILE, KEY_FILE
from engine.runs.history import Replay, last_state
from engine.training.distributed import Group
from engine.training.kept import kept_steps
from engine.training.memory import describe_out_of_memory, out_of_memory
from engine.training.trainer import Trainer

IDLE_EXIT_S = 2.0  # a worker with nothing to train and nobody attached exits after this long


class Worker:
    def __init__(
        self,
        trainer: Trainer | Preparation,
        detached: bool,
        idle: bool,
        group: Group | None = None,
        tuner: ThreadTuner | None = None,
    ):
        # While a Preparation tokenises a big corpus there is no Trainer yet: the worker serves
        # what needs none (status, subscribing, stopping) and publishes the progress.
        self.preparation = trainer if isinstance(trainer, Preparation) else None
        self.trainer: Trainer = None if self.preparation else trainer  # type: ignore[assignment]
        if trainer.run_dir is None:
            raise EngineError("a worker serves a run that has a directory")
        self.run_dir: Path = trainer.run_dir
        self.detached = detached
        self.startup = sys.stderr  # where a client that is still connecting reads an error
        self.group = group  # rank 0 of several: the others follow its steps (distributed.py)
        self.listener = listen(self.run_dir, detached, agent_pid())
        self.incoming: queue.Queue[Connection] = queue.Queue()
        self.connections: list[Connection] = []
        self.subscribers: list[Connection] = []
        self.clients: list[Connection] = []  # each client's request connection
        self.owner: Connection | None = None
        self.exit_code: int | None = None
        self.signalled = False
        self.alone_since = time.monotonic()
        self.state = RunState.STARTING
        self.steps = None if self.preparation else self.trainer.events()
        self.tuner = tuner  # ready()'s; a worker that prepares first gets it once prepared
        try:
            if group is not None:
                group.watch(self._abandon)
            if idle:
                self.steps = None
                self.state = _state_from_history(self.run_dir, self.trainer)
            threading.Thread(target=self._accept, daemon=True).start()
        except BaseException:
            close_listener(self.listener)  # no socket folder outlives a worker that never ran
            raise

    def _accept(self) -> None:
        """Accept connections (the auth handshake happens here) and hand them to the main loop."""
        while True:
            try:
                self.incoming.put(self.listener.accept())
            except OSError:
                return  # the listener was closed
            except Exception:
                continue  # a client that failed the handshake

    def run(self) -> int:
        self.alone_since = time.monotonic()  # the idle clock starts once clients can connect
        try:
            while self.exit_code is None:
                while not self.incoming.empty():
                    self.connections.append(self.incoming.get())
                self._serve(timeout=0.0 if self.training else 0.05)
                if self.group is not None and not self.training:
                    self.group.heartbeat(self.trainer.step)
                if self.signalled:
                    self._stop_training(FinishReason.INTERRUPTED)
                    self.exit_code = 0
                elif self.preparation is not None:
                    self._poll_preparation()
                elif self.training and self.exit_code is None:
                    self._advance()
                elif not self.connections and not self.detached_training():
                    if time.monotonic() - self.alone_since > IDLE_EXIT_S:
                        self._stop_training(FinishReason.STOPPED)
                        self.exit_code = 0
            return self.exit_code
        except Exception as error:  # a crash (CUDA OOM included) must reach every client
            traceback.print_exc()  # into worker.log, for whoever debugs it
            group = self.group
            reason = group.explain(error, failure_reason) if group else failure_reason(error)
            checkpoint = self.trainer and self.trainer.last_checkpoint
            failed = EngineFailed(reason, 1, str(checkpoint or "") or None)
            with contextlib.suppress(EngineError):  # the log itself may be what failed
                if self.trainer:
                    self.trainer.record(failed)
            self._publish(failed)
            return 1
        finally:
            self._close()

    def _abandon(self, reason: str) -> None:
        """From the rank watchdog's thread: another rank died while the main thread is stuck in a
        collective that will never return. Tell the clients, clean up and exit from here."""
        failed = EngineFailed(reason, 1, str(self.trainer.last_checkpoint or "") or None)
        with contextlib.suppress(Exception):
            self.trainer.record(failed)
        line = failed.to_json()
        for conn in list(self.subscribers):
            with contextlib.suppress(OSError):
                send_event_line(conn, line)
        for name in (INFO_FILE, KEY_FILE):
            (self.run_dir / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            close_listener(self.listener)
        os._exit(1)

    @property
    def training(self) -> bool:
        """The loop has steps to take and nobody paused it."""
        return self.steps is not None and self.state in (RunState.STARTING, RunState.RUNNING)

    def detached_training(self) -> bool:
        return self.detached and self.steps is not None

    def _poll_preparation(self) -> None:
        """Publish tokenising progress; once the Trainer is built, start training."""
        assert self.preparation is not None
        if news := self.preparation.news():
            self._publish(news)
        if not self.preparation.done:
            return
        try:
            trainer = self.preparation.result()
        except Exception as error:
            known = isinstance(error, EngineError) or out_of_memory(error)
            if not known:
                traceback.print_exc()
            for stream in {self.startup, sys.stderr}:  # the log, and a client still connecting
                print(f"error: {failure_reason(error)}", file=stream, flush=True)
            self._publish(EngineFailed(failure_reason(error), 2 if known else 1))
            self.exit_code = 2 if known else 1
            return
        finally:
            self.preparation = None
        self.tuner = ready(trainer)
        trainer.open_run_dir()
        self.trainer, self.steps = trainer, trainer.events()

    def _advance(self) -> Event | None:
        """Take the loop one event further and publish it; None once the loop has ended."""
        assert self.steps is not None
        try:
            event = next(self.steps)
        except StopIteration:
            self.steps = None
            return None
        self.state = advance(self.state, event)
        self._publish(event)
        if self.tuner is not None and isinstance(event, StepCompleted):
            self.tuner.saw_step(event.step, event.elapsed_s)
        if isinstance(event, TrainingFinished):
            self.steps = None
        return event

    def _stop_training(self, reason: FinishReason) -> None:
        """Checkpoint and close the training loop (unless it already ended)."""
        if self.preparation is not None:  # nothing trained, nothing to keep: the worker ends
            self.preparation.cancel()
            self.preparation = None
            self._publish(TrainingFinished(reason, 0))
            self.exit_code = 0
            return
        if self.steps is None:
            return
        self.trainer.control.stop = True
        self.trainer.control.stop_reason = reason
        while self.steps is not None:  # the loop saves, then yields TrainingFinished
            self._advance()

    def _publish(self, event: Event) -> None:
        line = event.to_json()
        for conn in list(self.subscribers):
            try:
                send_event_line(conn, line)
            except OSError:
                self._drop(conn)

    def _drop(self, conn: Connection) -> None:
        for group in (self.connections, self.subscribers, self.clients):
            if conn in group:
                group.remove(conn)
        conn.close()
        if not self.connections:
            self.alone_since = time.monotonic()
        if conn is self.owner:
            self._stop_training(FinishReason.STOPPED)
            self.exit_code = 0

    def _serve(self, timeout: float) -> None:
        ready = wait(self.connections, timeout) if self.connections else _sleep(timeout)
        for conn in cast(list[Connection], ready):
            try:
                tag, payload = receive(conn)
                request = REQUEST_TYPES.from_json(payload)
            except (EOFError, OSError, ValueError):
                self._drop(conn)  # gone, or not speaking our protocol
                continue
            except EngineError as error:  # well-formed but invalid, e.g. a bad sample setting
                self._answer(conn, Refused(error=str(error)))
                continue
            handler = self.HANDLERS.get(type(request))
            try:
                if handler is None:
                    raise EngineError(f"the worker cannot serve {request.kind!r} requests")
                if self.trainer is None and handler not in self.WITHOUT_TRAINER:
                    raise EngineError("the run is still reading its corpus; ask once it trains")
                handler(self, conn, request)
            except EngineError as error:
                self._answer(conn, Refused(request.id, str(error)))
            except OSError:
                self._drop(conn)
            except Exception as error:
                if handler not in self.LOOKS:
                    raise  # training itself failed: the run ends with EngineFailed
                # A look at the model that failed (a bug, or out of memory on the GPU) is that
                # request's failure, not the run's: training goes on.
                traceback.print_exc()
                self._answer(conn, Refused(request.id, failure_reason(error)))

    def _answer(self, conn: Connection, reply: Request) -> None:
        try:
            send_record(conn, reply)
        except OSError:
            self._drop(conn)

    def _hello(self, conn: Connection, request: Hello) -> None:
        self.clients.append(conn)
        if request.owner:
            self.owner = conn
        send_record(conn, Done(request.id))

    def _subscribe(self, conn: Connection, request: Subscribe) -> None:
        self._replay(conn, request.history_bytes)
        self.subscribers.append(conn)
        if self.preparation is not None and self.preparation.latest is not None:
            send_event_line(conn, self.preparation.latest.to_json())  # the bar, at once

    def _pause(self, conn: Connection, request: Pause) -> None:
        if self.training:
            # The loop pauses at its next step boundary: run it there (an eval in progress
            # finishes first), so the reply comes once the run really is paused.
            self.trainer.control.pause = PauseCause.USER
            while self.training and self._advance() is not None:
                pass
        send_record(conn, Done(request.id))

    def _resume(self, conn: Connection, request: Resume) -> None:
        trainer = self.trainer
        if self.state is RunState.PAUSED and self.steps is not None:
            self.state = RunState.RUNNING  # the loop announces TrainingResumed as it goes on
            trainer.control.pause = None
        elif trainer.finished:
            raise EngineError(f"training is finished at step {trainer.step}; nothing to resume")
        elif self.steps is None:  # stopped (or failed) with steps left: start the loop again
            trainer.control.stop = False
            trainer.control.stop_reason = FinishReason.STOPPED
            self.steps = trainer.events()
            self.state = RunState.STARTING
        send_record(conn, Done(request.id))

    def _stop(self, conn: Connection, request: Stop) -> None:
        self._stop_training(FinishReason.STOPPED)
        send_record(conn, Done(request.id))

    def _detach(self, conn: Connection, request: Detach) -> None:
        self.detached, self.owner = True, None
        send_record(conn, Done(request.id))

    def _shutdown(self, conn: Connection, request: Shutdown) -> None:
        self._stop_training(FinishReason.STOPPED)
        send_record(conn, Done(request.id))
        self.exit_code = 0

    def _save(self, conn: Connection, request: Save) -> None:
        self._publish(self.trainer.record(self.trainer.save()))
        send_record(conn, Done(request.id))

    def _sample_now(self, conn: Connection, request: SampleNow) -> None:
        self._publish(self.trainer.record(self.trainer.sample()))
        send_record(conn, Done(request.id))

    def _generate(self, conn: Connection, request: Generate) -> None:
        # A client draws each token's sampling pipeline from its top logits.
        t = self.trainer
        _, step = t.model_at(request.at_step)
        encoding, tokens = t.generate(request.prompt, request.config, TOP_LOGITS, request.at_step)
        send_record(conn, GenerationStarted(request.id, tuple(encoding.unknown), step))
        for token in tokens:
            send_record(conn, TokenSampled(request.id, token))
        send_record(conn, GenerationEnded(request.id))

    def _attention(self, conn: Connection, request: Attention) -> None:
        send_attention(conn, request.id, self.trainer.attention(request.text, request.at_step))

    def _attention_steps(self, conn: Connection, request: AttentionSteps) -> None:
        send_record(conn, StepsReply(request.id, tuple(snapshot_steps(self.run_dir))))

    def _attention_at(self, conn: Connection, request: AttentionAt) -> None:
        send_attention(conn, request.id, load_snapshot(self.run_dir, request.step))

    def _lens(self, conn: Connection, request: Lens) -> None:
        lens = self.trainer.logit_lens(request.text, request.at_step)
        send_record(conn, LensReply(request.id, lens))

    def _lens_at(self, conn: Connection, request: LensAt) -> None:
        send_record(conn, LensReply(request.id, load_lens(self.run_dir, request.step)))

    def _embeddings_at(self, conn: Connection, request: EmbeddingsAt) -> None:
        embedding_map = load_map(self.run_dir, request.step)
        send_record(conn, EmbeddingMapReply(request.id, embedding_map))

    def _trace(self, conn: Connection, request: Trace) -> None:
        t = self.trainer  # between steps: the weights stay as they are while it traces
        model, step = t.model_at(request.at_step)
        result = trace(model, t.tokenizer, request.text, request.position, step)
        send_record(conn, TraceReply(request.id, result))

    def _kept_steps(self, conn: Connection, request: KeptSteps) -> None:
        send_record(conn, StepsReply(request.id, tuple(kept_steps(self.run_dir))))

    def _token_losses(self, conn: Connection, request: TokenLosses) -> None:
        t = self.trainer
        passage = passage_losses(t.model, t.tokenizer, t.data.val, t.step)
        send_record(conn, TokenLossesReply(request.id, passage))

    def _ablate(self, conn: Connection, request: Ablate) -> None:
        if request.ablation is None:
            raise EngineError("an ablation request names no part to knock out")
        result = self.trainer.ablate(request.ablation, request.text, request.position)
        send_record(conn, AblationReply(request.id, result))

    def _rank_heads(self, conn: Connection, request: RankHeads) -> None:
        send_record(conn, ImportanceReply(request.id, self.trainer.head_importance(request.method)))

    def _game_round(self, conn: Connection, request: GameRound) -> None:
        send_record(conn, GameRoundReply(request.id, self.trainer.game_passage(request.number)))

    def _guess(self, conn: Connection, request: Guess) -> None:
        result = self.trainer.guess(request.number, request.position, request.guess)
        send_record(conn, GuessReply(request.id, result))

    def _status(self, conn: Connection, request: Status) -> None:
        trainer = self.trainer
        config = trainer.config if trainer else self.preparation.config  # type: ignore[union-attr]
        status = RunStatus(
            state=self.state,
            step=trainer.step if trainer else 0,
            max_steps=config.train.max_steps,
            run_dir=str(self.run_dir),
            preset=config.preset,
            device=trainer.device.type if trainer else config.train.device,
            clients=len(self.clients),
        )
        send_record(conn, StatusReply(request.id, status))

    HANDLERS: dict[type[Request], Callable[[Worker, Connection, Any], None]] = {
        Hello: _hello,
        Subscribe: _subscribe,
        Pause: _pause,
        Resume: _resume,
        Stop: _stop,
        Detach: _detach,
        Shutdown: _shutdown,
        Save: _save,
        SampleNow: _sample_now,
        Generate: _generate,
        Attention: _attention,
        AttentionSteps: _attention_steps,
        AttentionAt: _attention_at,
        Lens: _lens,
        LensAt: _lens_at,
        EmbeddingsAt: _embeddings_at,
        Trace: _trace,
        KeptSteps: _kept_steps,
        TokenLosses: _token_losses,
        Ablate: _ablate,
        RankHeads: _rank_heads,
        GameRound: _game_round,
        Guess: _guess,
        Status: _status,
    }
    # Requests that only look at the model, never at training's state (an ablation's hook is
    # taken off before its reply).
    LOOKS = {
        _generate, _attention, _attention_at, _trace, _token_losses, _ablate, _rank_heads,
        _game_round, _guess,
    }  # fmt: skip
    WITHOUT_TRAINER = {
        _hello, _subscribe, _status, _stop, _detach, _shutdown, _attention_steps, _kept_steps,
        _lens_at, _embeddings_at,
    }  # fmt: skip

    def _replay(self, conn: Connection, history_bytes: int | None) -> None:
        """Send the history as it stands in events.jsonl, in brief (engine/runs/history.py), with
        how far it has got, then where it ends; live events follow."""
        replay = Replay(self.run_dir, history_bytes)
        for batch in replay:
            if batch is None:
                send_event_line(conn, HistoryReplayed(replay.events, replay.steps).to_json())
                continue
            conn.send_bytes(HISTORY + batch)
            progress = HistoryProgress(replay.done_bytes, replay.total_bytes)
            send_event_line(conn, progress.to_json())

    def _close(self) -> None:
        for conn in self.connections:
            conn.close()
        close_listener(self.listener)
        for name in (INFO_FILE, KEY_FILE):
            (self.run_dir / name).unlink(missing_ok=True)
        if self.preparation is not None:
            self.preparation.cancel()
        if self.trainer is not None:
            self.trainer.close()
        if self.group is not None:
            self.group.finish()


def _sleep(timeout: float) -> list:
    time.sleep(timeout)
    return []


def failure_reason(error: BaseException) -> str:
    """One plain line for a crash: the user's own words for a known failure, else the error."""
    if out_of_memory(error):
        return describe_out_of_memory(error)
    if isinstance(error, EngineError):  # a WriteError says what could not be written, and why
        return str(error)
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]


def _state_from_history(run_dir: Path, trainer: Trainer) -> RunState:
    """An idle worker's state: how the history ended, and never live (it does not train)."""
    if trainer.finished:
        return RunState.FINISHED
    # As `runs` would say if this worker were not here: it only serves the run, it trains nothing.
    return settled(last_state(run_dir), worker_alive=False)


def ready(trainer: Trainer, group: Group | None = None) -> ThreadTuner | None:
    """Set the process's CPU policy for this trainer: priority and threads, chosen for the model's
    size and the ranks on this machine (the figures are in cpu_policy.py). Returns the tuner that
    moves a lone CPU run between all cores and one as the machine's load changes, if it has one
    (thread_tuner.py)."""
    ranks_here = group.local_world if group is not None else 1
    policy = cpu_policy.choose(trainer.model.num_params(), ranks=ranks_here)
    cpu_policy.apply(policy)
    if group is None or group.rank == 0:
        print(f"cpu policy: {policy.describe()} ({cpu_policy.in_force()})", file=sys.stderr)
    most = torch.get_num_threads()
    if group is not None or policy.threads is not None or trainer.device.type != "cpu" or most < 2:
        return None
    return ThreadTuner(most, torch.set_num_threads, lambda line: print(line, file=sys.stderr))
