"""The client side of the engine process: start or attach to a worker, follow its events, ask it
things. Used by the TUI, the headless CLI and the tests; it never imports torch or textual.

Requests share one connection behind a lock (thread-safe); a generation streams over a connection of
its own, and the event stream over another, so none of them waits behind the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from itertools import count
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

from engine.contract.config import RunConfig, SampleConfig
from engine.contract.errors import EngineError
from engine.contract.events import (
    EVENT_TYPES,
    CheckpointSaved,
    EngineFailed,
    Event,
    TrainingFinished,
)
from engine.contract.experiments import (
    Ablation,
    AblationMethod,
    AblationResult,
    GamePassage,
    GuessResult,
    ImportanceTable,
)
from engine.contract.inside import ForwardTrace, PassageLosses
from engine.contract.outputs import AttentionMap, GeneratedToken, RunStatus
from engine.contract.requests import (
    REPLY_TYPES,
    Ablate,
    AblationReply,
    Attention,
    AttentionAt,
    AttentionReply,
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
from engine.contract.snapshots import EmbeddingMap, LogitLens
from engine.data.corpus import resolve_corpus
from engine.process import cpu_policy, launch
from engine.process.channel import (
    BINARY,
    EVENT,
    HISTORY,
    attention_from_wire,
    connect,
    receive,
    send_record,
)
from engine.runs.files import last_error, load_config, new_run_dir
from engine.runs.liveness import pid_running, worker_alive, worker_info

R = TypeVar("R", bound=Request)
POLL_S = 0.1  # how often a blocked reader checks whether its client was closed
# How long a client whose worker went silent mid-run waits for its exit code, to say why (at once
# for a dead one; a loaded machine can stretch the moment between its socket closing and its end).
EXIT_WAIT_S = 5.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def _spawn(args: list[str], detach: bool, nproc: int = 1) -> tuple[subprocess.Popen, object]:
    """Start the worker, or torchrun's agent with N of them: either way, the run's process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    cpu_policy.worker_env(env)
    launch.worker_env(env, nproc)
    errors = tempfile.TemporaryFile()
    process = subprocess.Popen(
        launch.worker_command([*args, *(["--detach"] if detach else [])], nproc),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        env=env,
        start_new_session=detach,
    )
    return process, errors


def _wait_until_listening(run_dir: Path, process: subprocess.Popen, errors) -> None:
    """Block until the worker publishes its address, or raise its one-line error if it exits."""
    while True:
        info = worker_info(run_dir)
        if info and info.get("pid") == process.pid:
            return
        if process.poll() is not None:
            raise _startup_error(process, errors)
        time.sleep(0.02)


def _startup_error(process: subprocess.Popen, errors) -> EngineError:
    """The one line an exited worker left on its stderr."""
    errors.seek(0)
    lines = errors.read().decode(errors="replace").strip().splitlines()
    # Under torchrun the worker's line comes before the agent's own report.
    ours = [line for line in lines if line.startswith("error: ")]
    message = (ours or lines or [_death_reason(process.returncode)])[-1]
    return EngineError(message.removeprefix("error: "))


class Generation:
    """A stream of GeneratedToken from the worker; `unknown` lists prompt words the vocab lacks."""

    def __init__(self, conn: Connection, unknown: list[str], step: int = 0):
        self._conn = conn
        self.unknown = unknown
        self.step = step  # the training step of the weights that generate

    def __iter__(self) -> Iterator[GeneratedToken]:
        try:
            while True:
                reply = _read_reply(self._conn)
                if isinstance(reply, GenerationEnded):
                    return
                if not isinstance(reply, TokenSampled) or reply.token is None:
                    raise EngineError(f"the worker sent {reply.kind!r} during generation")
                yield reply.token
        finally:
            self.close()

    def close(self) -> None:
        self._conn.close()


class EngineClient:
    """A handle on one run's worker process."""

    def __init__(self, run_dir: Path, process: subprocess.Popen | None = None, owner: bool = False):
        self.run_dir = Path(run_dir)
        self._process = process
        self._lock = threading.Lock()
        self._ids = count(1)
        self._closed = False
        self._conn = connect(self.run_dir)
        self._call(Hello(owner=owner), Done)

    @classmethod
    def start(
        cls,
        config: RunConfig,
        run_dir: str | Path | None = None,
        *,
        detach: bool = False,
        nproc: int = 1,
    ) -> EngineClient:
        """Start a worker training `config`; raises EngineError (one line) for bad input.

        Without detach the worker belongs to this client: closing the client stops it. With
        nproc > 1, torchrun runs that many ranks (DDP), each on batch_size / nproc rows.
        """
        resolve_corpus(config.data.corpus)  # the quick checks, before paying for a worker
        launch.check_nproc(nproc, config.train.device, config.train.batch_size)
        run_dir = Path(run_dir) if run_dir else new_run_dir(config.preset)
        if (run_dir / "config.json").exists():
            raise EngineError(f"{run_dir} already holds a run; attach to it or resume it instead")
        args = ["--run-dir", str(run_dir), "--config", config.to_json()]
        process, errors = _spawn(args, detach, nproc)
        return cls._connect_started(run_dir, process, errors, owner=not detach)

    @classmethod
    def resume_run(
        cls,
        run_dir: str | Path,
        overrides: dict | None = None,
        *,
        detach: bool = False,
        nproc: int = 1,
    ) -> EngineClient:
        """Continue training a stopped run from its last checkpoint (on nproc ranks)."""
        run_dir = Path(run_dir)
        config = load_config(run_dir).for_resume(overrides or {})  # quick one-line errors first
        launch.check_nproc(nproc, config.train.device, config.train.batch_size)
        if worker_alive(run_dir):
            raise EngineError(f"{run_dir} is already running; attach to it instead")
        args = ["--run-dir", str(run_dir), "--resume", "--overrides", json.dumps(overrides or {})]
        process, errors = _spawn(args, detach, nproc)
        return cls._connect_started(run_dir, process, errors, owner=not detach)

    @classmethod
    def attach(cls, run_dir: str | Path) -> EngineClient:
        """Join a run's worker; for a run with none, start one that loads it without training."""
        run_dir = Path(run_dir)
        if not (run_dir / "config.json").exists():
            raise EngineError(f"{run_dir} is not a run directory (it has no config.json)")
        if worker_alive(run_dir):
            return cls(run_dir)
        process, errors = _spawn(["--run-dir", str(run_dir), "--resume", "--idle"], detach=True)
        return cls._connect_started(run_dir, process, errors, owner=False)

    @classmethod
    def _connect_started(cls, run_dir, process, errors, owner: bool) -> EngineClient:
        try:
            _wait_until_listening(run_dir, process, errors)
            try:
                return cls(run_dir, process, owner=owner)
            except EngineError:  # it listened, then failed at once (a big corpus that is bad)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
                if process.poll() is not None:
                    raise _startup_error(process, errors) from None
                raise
        except BaseException:
            if process.poll() is None:
                process.kill()
                process.wait()
            raise
        finally:
            errors.close()

    @property
    def pid(self) -> int | None:
        info = worker_info(self.run_dir)
        return self._process.pid if self._process else (info or {}).get("pid")

    # -- events ---------------------------------------------------------------------------------

    def events(self, history_bytes: int | None = None) -> Iterator[Event]:
        """History from events.jsonl first (in brief, see engine/runs/history.py), a
        HistoryReplayed where the past ends (`history_bytes` of it; None: all), then live
        events, until the worker goes away. If it dies without finishing, the last event is an
        EngineFailed.
        """
        try:
            conn = connect(self.run_dir)
        except EngineError:
            if self._process is None or self._closed:
                raise
            # Ours ended before this stream began (a big corpus found bad as it was read): the
            # stream says why, as it would have had it begun a moment sooner.
            code = self._exit_code(timeout=EXIT_WAIT_S)
            yield EngineFailed(last_error(self.run_dir) or _death_reason(code), code, None)
            return
        send_record(conn, Subscribe(history_bytes=history_bytes))
        last: Event | None = None
        checkpoint: str | None = None
        try:
            while not self._closed:
                try:
                    if not conn.poll(POLL_S):
                        continue
                    tag, payload = receive(conn)
                except (EOFError, OSError):
                    break
                lines = (
                    payload.splitlines() if tag == HISTORY else [payload] if tag == EVENT else []
                )
                for line in lines:
                    last = EVENT_TYPES.from_json(line)
                    if isinstance(last, CheckpointSaved):
                        checkpoint = last.path
                    yield last
        finally:
            conn.close()
        if self._closed or isinstance(last, EngineFailed):
            return
        finished = isinstance(last, TrainingFinished)
        code = self._exit_code(timeout=0.5 if finished else EXIT_WAIT_S)
        if code in (0, None) and finished:
            return
        reason = _death_reason(code)
        if self._process is not None and launch.is_torchrun(_arguments(self._process)):
            # Rank 0 reports any other rank's death itself: it is the one that went silent.
            reason = f"rank 0 died, and torchrun ended the other ranks ({reason})"
        yield EngineFailed(reason, code, checkpoint)

    def _exit_code(self, timeout: float) -> int | None:
        if self._process is not None:
            try:
                return self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        return None

    # -- requests -------------------------------------------------------------------------------

    def _call(self, request: Request, reply_type: type[R]) -> R:
        """Send a request on the shared connection; return its reply, checked to be of its type."""
        with self._lock:
            request = replace(request, id=next(self._ids))
            try:
                send_record(self._conn, request)
            except OSError:
                raise EngineError("the engine worker is not running") from None
            return _expect(_read_reply(self._conn), reply_type)

    def _call_attention(self, request: Attention | AttentionAt) -> AttentionMap:
        with self._lock:
            request = replace(request, id=next(self._ids))
            try:
                send_record(self._conn, request)
                header = _expect(_read_reply(self._conn), AttentionReply)
                tag, raw = receive(self._conn)
            except (EOFError, OSError):
                raise EngineError("the engine worker is not running") from None
            if tag != BINARY:
                raise EngineError("the worker sent attention in an unexpected form")
            return attention_from_wire(header, raw)

    def pause(self) -> None:
        """Pause at the next step boundary; returns once the run is paused."""
        self._call(Pause(), Done)

    def resume(self) -> None:
        self._call(Resume(), Done)

    def stop(self) -> None:
        """Stop training and checkpoint; the model stays loaded to sample from."""
        self._call(Stop(), Done)

    def save(self) -> None:
        self._call(Save(), Done)

    def sample_now(self) -> None:
        self._call(SampleNow(), Done)

    def status(self) -> RunStatus:
        status = self._call(Status(), StatusReply).status
        if status is None:
            raise EngineError("the worker sent an empty status")
        return status

    def attention(self, text: str, at_step: int | None = None) -> AttentionMap:
        """Attention of every layer and head on `text`, of the model as it was at `at_step`
        (the nearest kept step; the map says which) or now."""
        return self._call_attention(Attention(text=text, at_step=at_step))

    def attention_steps(self) -> list[int]:
        return list(self._call(AttentionSteps(), StepsReply).steps)

    def attention_at(self, step: int) -> AttentionMap:
        return self._call_attention(AttentionAt(step=step))

    def logit_lens(self, text: str, at_step: int | None = None) -> LogitLens:
        """The logit lens on `text`, of the model as it was at `at_step` (the nearest kept step;
        the lens says which) or now."""
        return self._lens(Lens(text=text, at_step=at_step))

    def logit_lens_at(self, step: int) -> LogitLens:
        """The logit lens on the probe text as stored at an eval (one of attention_steps());
        raises EngineError for a step with none (a run from before the lens was stored)."""
        return self._lens(LensAt(step=step))

    def _lens(self, request: Lens | LensAt) -> LogitLens:
        lens = self._call(request, LensReply).lens
        if lens is None:
            raise EngineError("the worker sent an empty logit lens")
        return lens

    def embedding_map_at(self, step: int) -> EmbeddingMap:
        """The embedding map as stored at an eval (one of attention_steps()); raises EngineError
        for a step with none."""
        embedding_map = self._call(EmbeddingsAt(step=step), EmbeddingMapReply).embedding_map
        if embedding_map is None:
            raise EngineError("the worker sent an empty embedding map")
        return embedding_map

    def trace(self, text: str, position: int = -1, at_step: int | None = None) -> ForwardTrace:
        """One forward pass on `text`, at `position` (negative: from the end), of the weights of
        `at_step` (the nearest kept step; the trace says which) or now; raises EngineError for a
        position outside the text."""
        request = Trace(text=text, position=position, at_step=at_step)
        result = self._call(request, TraceReply).trace
        if result is None:
            raise EngineError("the worker sent an empty trace")
        return result

    def token_losses(self) -> PassageLosses:
        """Each token's loss on the fixed validation passage, with the model's top guesses."""
        passage = self._call(TokenLosses(), TokenLossesReply).passage
        if passage is None:
            raise EngineError("the worker sent an empty passage")
        return passage

    def kept_steps(self) -> list[int]:
        """The past steps whose weights are kept: what at_step reaches exactly."""
        return list(self._call(KeptSteps(), StepsReply).steps)

    def ablate(self, ablation: Ablation, text: str, position: int = -2) -> AblationResult:
        """The live model with and without one part: val loss, the loss on `text`, and the
        candidates after its token at `position` (negative: from the end). The weights stay
        as they are."""
        request = Ablate(ablation=ablation, text=text, position=position)
        return _present(self._call(request, AblationReply).result, "ablation")

    def head_importance(self, method: AblationMethod = AblationMethod.ZERO) -> ImportanceTable:
        """Every head ablated alone in turn: the val loss each costs, most costly first."""
        return _present(self._call(RankHeads(method=method), ImportanceReply).table, "table")

    def game_passage(self, number: int) -> GamePassage:
        """Validation passage `number` of the prediction game, with the positions it asks."""
        reply = self._call(GameRound(number=number), GameRoundReply)
        return _present(reply.passage, "passage")

    def guess(self, number: int, position: int, guess: str) -> GuessResult:
        """Score a learner's guess of passage `number`'s token at `position` with the model's."""
        reply = self._call(Guess(number=number, position=position, guess=guess), GuessReply)
        return _present(reply.result, "guess result")

    def generate(
        self, prompt: str, config: SampleConfig | None = None, at_step: int | None = None
    ) -> Generation:
        """Start generating after `prompt` with the model as it was at `at_step` (the nearest
        kept step; Generation.step says which) or now; iterate the result for its tokens."""
        conn = connect(self.run_dir)
        try:
            send_record(conn, Generate(next(self._ids), prompt, config, at_step))
            started = _expect(_read_reply(conn), GenerationStarted)
        except OSError:
            conn.close()
            raise EngineError("the engine worker is not running") from None
        except BaseException:
            conn.close()
            raise
        return Generation(conn, list(started.unknown), started.step)

    # -- ending ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Detach. A worker this client started without --detach stops (checkpointing) and exits."""
        if self._closed:
            return
        self._closed = True
        self._conn.close()
        if self._process is not None and not worker_detached(self._process):
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def detach(self) -> None:
        """Let go of the run but keep it training, even if this client started it."""
        self._call(Detach(), Done)
        self._closed = True
        self._conn.close()

    def shutdown(self) -> None:
        """Stop training, checkpoint, and end the worker, detached or not."""
        pid = self.pid  # before: the worker removes its info as it ends
        try:
            self._call(Shutdown(), Done)
        except EngineError:
            pass
        self._closed = True
        self._conn.close()
        if self._process is not None:
            self._process.wait(timeout=60)
        elif pid:
            _wait_for_exit(pid, timeout=60)

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


T = TypeVar("T")


def _present(value: T | None, what: str) -> T:
    """A reply's payload, which a well-behaved worker always sends."""
    if value is None:
        raise EngineError(f"the worker sent an empty {what}")
    return value


def _read_reply(conn: Connection) -> Request:
    try:
        _, payload = receive(conn)
        return REPLY_TYPES.from_json(payload)
    except (EOFError, OSError):
        raise EngineError("the engine worker is not running") from None
    except ValueError as error:
        raise EngineError(f"the worker sent a reply this client cannot read ({error})") from None


def _expect(reply: Request, reply_type: type[R]) -> R:
    """The reply as the type asked for; a refusal becomes an EngineError with its one line."""
    if isinstance(reply, Refused):
        raise EngineError(reply.error or "the request failed")
    if not isinstance(reply, reply_type):
        raise EngineError(f"the worker answered with {reply.kind!r}, not the reply expected")
    return reply


def worker_detached(process: subprocess.Popen) -> bool:
    return "--detach" in _arguments(process)


def _arguments(process: subprocess.Popen) -> list[str]:
    """The command line it was started with (always a list of str here: see _spawn)."""
    return [str(arg) for arg in process.args] if isinstance(process.args, list) else []


def _wait_for_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child: reap it
                return
        except ChildProcessError:
            pass
        if not pid_running(pid):
            return
        time.sleep(0.05)


def _death_reason(code: int | None) -> str:
    if code is None:
        return "the engine worker stopped answering and exited"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGKILL":  # what the kernel's OOM killer sends
            return "the engine worker was killed (SIGKILL), likely out of memory"
        return f"the engine worker was killed ({name})"
    return f"the engine worker exited with code {code}"
