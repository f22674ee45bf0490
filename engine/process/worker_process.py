"""The worker process: arguments, signals, the run's log and start-up errors, around a Worker.

    python -m engine.process.worker_process --run-dir DIR (--config JSON | --resume)
        [--detach] [--idle]

SIGINT and SIGTERM checkpoint and exit; SIGHUP is ignored (a closed terminal must not end a run).
A start-up error is one line on stderr, where the starting client reads it; later ones go to the
run's worker.log.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from engine.contract.config import RunConfig
from engine.contract.errors import EngineError
from engine.data.corpus import resolve_corpus
from engine.process.launch import under_torchrun
from engine.process.preparation import Preparation, prepare_in_background
from engine.process.worker import Worker, failure_reason, ready
from engine.runs.files import LOG_FILE, load_config, write_error
from engine.training.distributed import Group
from engine.training.memory import out_of_memory
from engine.training.trainer import Trainer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine.process.worker_process")
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
    startup = sys.stderr  # the client reads a start-up error's one line from here
    group = Group() if under_torchrun() else None
    leader = group is None or group.rank == 0
    # One rank per machine tokenises a new corpus into the token cache; the others wait for it.
    build_cache = group is None or group.local_rank == 0
    try:
        if group is not None:
            group.pick_device()
        overrides = json.loads(args.overrides)
        if args.resume:
            config = load_config(args.run_dir).for_resume(overrides)

            def build(progress=None) -> Trainer:
                return Trainer.resume(args.run_dir, overrides, progress, build_cache)
        else:
            config = RunConfig.from_json(args.config)

            def build(progress=None) -> Trainer:
                return Trainer.create(config, args.run_dir, progress, build_cache)

        corpus_bytes = resolve_corpus(config.data.corpus).stat().st_size
        if group is None and prepare_in_background(corpus_bytes) and not args.idle:
            # Listen first: clients see the tokenising progress and can stop it. (Under torchrun
            # rank 0 tokenises before it listens, and the other ranks wait for its cache entry.)
            startup = _log_to(args.run_dir)
            worker = Worker(Preparation(args.run_dir, config, build), args.detach, args.idle)
            worker.startup = startup
        else:
            trainer = build()
            if leader:
                startup = _log_to(args.run_dir)  # warnings from here on go to the log
            tuner = ready(trainer, group)
            if group is not None:
                group.connect(trainer)
                if not leader:
                    return group.follow(trainer)
            trainer.open_run_dir()
            worker = Worker(trainer, args.detach, args.idle, group, tuner)
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
