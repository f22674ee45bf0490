"""The engine worker: one process that owns one run and serves its clients between training steps.

    python -m engine.worker --run-dir DIR (--config JSON | --resume) [--detach] [--idle]

Training advances one step per loop turn; before each step the worker answers whatever requests
have arrived, so a request waits at most one step. The model stays loaded while paused, stopped or
finished, to be sampled and inspected. SIGINT and SIGTERM checkpoint and exit; SIGHUP is ignored
(a closed terminal must not end a run; a non-detached worker ends when its owner disconnects).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path

from engine.channel import (
    HISTORY,
    INFO_FILE,
    KEY_FILE,
    close_listener,
    listen,
    receive,
    send_attention,
    send_event_line,
    send_json,
)
from engine.config import RunConfig
from engine.errors import EngineError
from engine.events import (
    EngineFailed,
    EvalCompleted,
    Event,
    LossNotFinite,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
)
from engine.memory import describe_out_of_memory, out_of_memory
from engine.run_files import event_batches, write_error
from engine.run_listing import state_after, summarize_model, summarize_run
from engine.timelapse import load_snapshot, save_snapshot, snapshot_steps
from engine.train import Trainer

NICENESS = 10
LOG_FILE = "worker.log"
IDLE_EXIT_S = 2.0  # a worker with nothing to train and nobody attached exits after this long


class Worker:
    def __init__(self, trainer: Trainer, detached: bool, idle: bool):
        self.trainer = trainer
        self.run_dir = trainer.run_dir
        self.detached = detached
        self.listener = listen(self.run_dir, detached)
        self.incoming: queue.Queue[Connection] = queue.Queue()
        self.connections: list[Connection] = []
        self.subscribers: list[Connection] = []
        self.clients: list[Connection] = []  # each client's request connection
        self.owner: Connection | None = None
        self.exit_code: int | None = None
        self.signalled = False
        self.alone_since = time.monotonic()
        self.state = "running"
        self.steps = trainer.events()
        try:
            if idle:
                self.steps = None
                self.state = _state_from_history(self.run_dir, trainer)
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
        try:
            while self.exit_code is None:
                while not self.incoming.empty():
                    self.connections.append(self.incoming.get())
                self._serve(timeout=0.0 if self.state == "running" else 0.05)
                if self.signalled:
                    self._stop_training("interrupted")
                    self.exit_code = 0
                elif self.state == "running" and self.steps is not None and self.exit_code is None:
                    self._advance()
                elif not self.connections and not self.detached_training():
                    if time.monotonic() - self.alone_since > IDLE_EXIT_S:
                        self._stop_training("stopped")
                        self.exit_code = 0
            return self.exit_code
        except Exception as error:  # a crash (CUDA OOM included) must reach every client
            failed = EngineFailed(
                failure_reason(error), 1, str(self.trainer.last_checkpoint or "") or None
            )
            with contextlib.suppress(EngineError):  # the log itself may be what failed
                self.trainer.record(failed)
            self._publish(failed)
            return 1
        finally:
            self._close()

    def detached_training(self) -> bool:
        return self.detached and self.state in ("running", "paused")

    def _advance(self) -> None:
        try:
            event = next(self.steps)
        except StopIteration:
            self.steps = None
            return
        self._publish(event)
        if isinstance(event, EvalCompleted):
            save_snapshot(self.run_dir, self.trainer.attention(self.trainer.config.sample.probe))
        elif isinstance(event, LossNotFinite):
            self.state = "paused"
            reason = (
                f"loss became {event.loss} at step {event.step}; the step was not applied and "
                f"the last good checkpoint is {self.trainer.last_checkpoint}"
            )
            self._publish(self.trainer.record(TrainingPaused(self.trainer.step, reason)))
        elif isinstance(event, TrainingFinished):
            self.state = state_after(event.reason)
            self.steps = None

    def _stop_training(self, reason: str) -> None:
        """Checkpoint and close the training loop (unless it already ended)."""
        if self.steps is None:
            return
        self.trainer.control.stop = True
        self.trainer.control.stop_reason = reason
        for event in self.steps:  # the loop saves, then yields TrainingFinished
            self._publish(event)
        self.steps = None
        self.state = "stopped"

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
            self._stop_training("stopped")
            self.exit_code = 0

    def _serve(self, timeout: float) -> None:
        for conn in wait(self.connections, timeout) if self.connections else _sleep(timeout):
            try:
                tag, payload = receive(conn)
                request = _parse(payload)
            except (EOFError, OSError, ValueError):
                self._drop(conn)
                continue
            try:
                self._handle(conn, request)
            except EngineError as error:
                self._reply(conn, request, ok=False, error=str(error))
            except OSError:
                self._drop(conn)

    def _reply(self, conn: Connection, request: dict, **fields) -> None:
        send_json(conn, {"id": request.get("id"), "ok": True, **fields})

    def _handle(self, conn: Connection, request: dict) -> None:
        op = request.get("op")
        trainer = self.trainer
        if op == "hello":
            self.clients.append(conn)
            if request.get("owner"):
                self.owner = conn
            self._reply(conn, request)
        elif op == "subscribe":
            self._replay(conn)
            self.subscribers.append(conn)
        elif op == "pause":
            if self.state == "running":
                self.state = "paused"
                self._publish(trainer.record(TrainingPaused(trainer.step)))
            self._reply(conn, request, state=self.state)
        elif op == "resume":
            self._resume()
            self._reply(conn, request, state=self.state)
        elif op == "stop":
            self._stop_training("stopped")
            self._reply(conn, request, state=self.state)
        elif op == "detach":  # the owner lets go: the run now outlives its clients
            self.detached, self.owner = True, None
            self._reply(conn, request)
        elif op == "shutdown":
            self._stop_training("stopped")
            self._reply(conn, request, state=self.state)
            self.exit_code = 0
        elif op == "save":
            self._publish(trainer.record(trainer.save()))
            self._reply(conn, request)
        elif op == "sample":
            self._publish(trainer.record(trainer.sample()))
            self._reply(conn, request)
        elif op == "generate":
            self._generate(conn, request)
        elif op == "attention":
            send_attention(conn, request.get("id"), trainer.attention(str(request["text"])))
        elif op == "attention_steps":
            self._reply(conn, request, steps=snapshot_steps(self.run_dir))
        elif op == "attention_at":
            send_attention(
                conn, request.get("id"), load_snapshot(self.run_dir, int(request["step"]))
            )
        elif op == "summary":
            self._reply(conn, request, summary=summarize_model(trainer))
        elif op == "status":
            self._reply(conn, request, status=self._status())
        else:
            raise EngineError(f"unknown request {op!r}")

    def _resume(self) -> None:
        if self.state == "paused":
            self.state = "running"
            self._publish(self.trainer.record(TrainingResumed(self.trainer.step)))
        elif self.state in ("stopped", "failed") and not self.trainer.finished:
            self.trainer.control.stop = False
            self.trainer.control.stop_reason = "stopped"
            self.steps = self.trainer.events()
            self.state = "running"
        elif self.trainer.finished:
            raise EngineError(
                f"training is finished at step {self.trainer.step}; nothing to resume"
            )

    def _generate(self, conn: Connection, request: dict) -> None:
        try:  # a bad value raises ConfigError (an EngineError); an unknown name, TypeError
            config = replace(self.trainer.config.sample, **(request.get("config") or {}))
        except TypeError as error:
            raise EngineError(f"bad sample settings: {error}") from None
        encoding, tokens = self.trainer.generate(str(request.get("prompt", "")), config)
        self._reply(conn, request, unknown=encoding.unknown, stream=True)
        for token in tokens:
            candidates = [[c.token_id, c.text, c.prob] for c in token.candidates]
            send_json(
                conn,
                {
                    "id": request.get("id"),
                    "token": [token.token_id, token.text, token.prob, candidates],
                },
            )
        send_json(conn, {"id": request.get("id"), "done": True})

    def _replay(self, conn: Connection) -> None:
        """Send the history as it stands in events.jsonl, in batches; live events follow."""
        for batch in event_batches(self.run_dir):
            conn.send_bytes(HISTORY + batch)

    def _status(self) -> dict:
        config = self.trainer.config
        return {
            "state": self.state,
            "step": self.trainer.step,
            "max_steps": config.train.max_steps,
            "run_dir": str(self.run_dir),
            "preset": config.preset,
            "device": self.trainer.device.type,
            "clients": len(self.clients),
        }

    def _close(self) -> None:
        for conn in self.connections:
            conn.close()
        close_listener(self.listener)
        for name in (INFO_FILE, KEY_FILE):
            (self.run_dir / name).unlink(missing_ok=True)
        self.trainer.close()


def _sleep(timeout: float) -> list:
    time.sleep(timeout)
    return []


def _parse(payload: bytes) -> dict:
    request = json.loads(payload)
    if not isinstance(request, dict):
        raise ValueError("request is not an object")
    return request


def failure_reason(error: BaseException) -> str:
    """One plain line for a crash: the user's own words for a known failure, else the error."""
    if out_of_memory(error):
        return describe_out_of_memory(error)
    if isinstance(error, EngineError):  # a WriteError says what could not be written, and why
        return str(error)
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]


def _state_from_history(run_dir: Path, trainer: Trainer) -> str:
    """An idle worker's state: how the history ended, and never "running" (it does not train)."""
    if trainer.finished:
        return "finished"
    state = summarize_run(run_dir).state
    return "stopped" if state in ("running", "paused") else state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine.worker")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--config", help="RunConfig JSON for a new run")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    parser.add_argument("--overrides", default="{}", help="JSON {section: {field: value}}")
    parser.add_argument("--detach", action="store_true")
    parser.add_argument("--idle", action="store_true", help="load the run but do not train")
    args = parser.parse_args(argv)
    os.umask(0o077)  # everything the run writes is its owner's alone
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    worker: Worker | None = None

    def on_signal(signum, frame) -> None:
        if worker is None:  # still starting: nothing to checkpoint yet
            raise SystemExit(128 + signum)
        worker.signalled = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # Training yields to interactive work: on a small CPU box the UI (and the shell) stay
    # responsive, and when nothing else wants the cores training loses nothing.
    os.nice(NICENESS)
    startup = sys.stderr  # the client reads a start-up error's one line from here
    try:
        if args.resume:
            trainer = Trainer.resume(args.run_dir, json.loads(args.overrides))
        else:
            trainer = Trainer.create(RunConfig.from_json(args.config), args.run_dir)
        startup = _log_to(args.run_dir)  # warnings from here on (a repaired log) go to the log
        trainer.open_run_dir()
        worker = Worker(trainer, args.detach, args.idle)
    except Exception as error:
        known = isinstance(error, EngineError) or out_of_memory(error)
        if not known:
            traceback.print_exc()  # the details, for a bug report (into worker.log once open)
        for stream in {startup, sys.stderr}:
            print(f"error: {failure_reason(error)}", file=stream, flush=True)
        return 2 if known else 1
    return worker.run()


def _log_to(run_dir: Path):
    """Send stderr to the run's worker.log (0600); returns the old stderr, for start-up errors."""
    try:
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(run_dir / LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # an older run's log may be world-readable
    except OSError as error:
        raise write_error(run_dir / LOG_FILE, error) from None
    startup = os.fdopen(os.dup(2), "w")
    os.dup2(fd, 2)
    os.close(fd)
    return startup


if __name__ == "__main__":
    sys.exit(main())
