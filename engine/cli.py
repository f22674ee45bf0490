"""The command line: option parsing shared with the TUI, the headless runner and the runs listing.

Every flag maps onto one config field; bad input ends in one line on stderr and exit code 2.
Torch is never imported here: training happens in the worker process.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from engine.config import DEFAULT_PRESET, PRESETS, SECTIONS, RunConfig, preset
from engine.errors import EngineError
from engine.events import (
    EngineFailed,
    EvalCompleted,
    Event,
    LossNotFinite,
    SampleGenerated,
    StepCompleted,
    TrainingFinished,
    TrainingPaused,
    TrainingStarted,
)

PROG = "llmlearns-tui"
EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130
# Flags named for the vocabulary rather than the field: --steps sets train.max_steps.
ALIASES = {
    ("train", "max_steps"): ["--steps", "--max-steps"],
    ("sample", "seed"): ["--sample-seed"],
}
HIDDEN = {("model", "vocab_size")}  # set by the tokenizer, never by hand
_TYPES = {"int": int, "float": float, "str": str}


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump) and exits 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=list(PRESETS), help=f"default: {DEFAULT_PRESET}")
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} settings")
        for field in fields(cls):
            if (section, field.name) in HIDDEN:
                continue
            names = ALIASES.get((section, field.name), [f"--{field.name.replace('_', '-')}"])
            dest = f"{section}.{field.name}"
            if field.type == "bool":
                group.add_argument(
                    *names, dest=dest, action=argparse.BooleanOptionalAction, default=None
                )
            else:
                group.add_argument(
                    *names,
                    dest=dest,
                    type=_TYPES[field.type],
                    default=None,
                    metavar=field.name.upper(),
                )


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """The preset (or base) with every given flag applied; raises ConfigError listing problems."""
    config = base or preset(args.preset or DEFAULT_PRESET)
    return config.with_overrides(overrides_from_args(args))


def overrides_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for key, value in vars(args).items():
        if "." in key and value is not None:
            section, name = key.split(".", 1)
            overrides.setdefault(section, {})[name] = value
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description="Train a small GPT and watch it learn. With no arguments: the TUI, training "
        "the seed preset on the bundled corpus.",
        epilog=f"Also: '{PROG} attach RUN_DIR [--headless]', '{PROG} stop RUN_DIR' and "
        f"'{PROG} runs'.",
    )
    parser.add_argument("--headless", action="store_true", help="no UI: print progress lines")
    parser.add_argument("--json", action="store_true", help="with --headless: events as JSON")
    parser.add_argument(
        "--detach",
        action="store_true",
        help="start the run in the background, print its directory and return",
    )
    parser.add_argument(
        "--run-dir", type=Path, help="where the run goes (default runs/<preset>-<time>)"
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue a stopped run from its last checkpoint",
    )
    parser.add_argument(
        "--print-every",
        type=int,
        metavar="STEPS",
        help="with --headless: steps between progress lines (default: eval_every)",
    )
    add_config_flags(parser)
    return parser


def build_attach_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=f"{PROG} attach", description="Follow a running or finished run.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--headless", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--print-every", type=int, metavar="STEPS")
    return parser


def fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def connect_from_args(args: argparse.Namespace, attach: bool = False):
    """Start, resume or attach to a worker as the flags say; raises EngineError on bad input."""
    from engine.client import EngineClient

    if attach:
        return EngineClient.attach(args.run_dir)
    if args.resume:
        return EngineClient.resume_run(args.resume, overrides_from_args(args), detach=args.detach)
    return EngineClient.start(config_from_args(args), args.run_dir, detach=args.detach)


def run_headless(args: argparse.Namespace, attach: bool = False) -> int:
    """Train (or follow) without a UI; returns the process exit code."""
    if args.print_every is not None and args.print_every < 1:
        return fail(f"--print-every {args.print_every} must be at least 1")
    try:
        client = connect_from_args(args, attach)
    except EngineError as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if getattr(args, "detach", False):
        print(client.run_dir)
        client.close()
        return 0
    interrupted = threading.Event()

    def on_interrupt(signum, frame) -> None:
        # A terminal's Ctrl-C reaches the worker too; a signal sent to us alone is passed on.
        interrupted.set()
        threading.Thread(target=_stop_quietly, args=(client,), daemon=True).start()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        printer = ProgressPrinter(args.json, args.print_every)
        for event in client.events():
            printer.show(event)
            if isinstance(event, EngineFailed) or (
                isinstance(event, TrainingFinished) and _run_is_over(client)
            ):
                break
    finally:
        signal.signal(signal.SIGINT, previous)
        client.close()
    if interrupted.is_set() or printer.finished_reason == "interrupted":
        return EXIT_INTERRUPTED
    return 0 if printer.finished_reason in ("completed", "stopped") else 1


def _run_is_over(client) -> bool:
    """A replayed TrainingFinished (a resumed run's earlier stop) must not end the follower."""
    try:
        return client.status().state != "running"
    except EngineError:
        return True


def _stop_quietly(client) -> None:
    try:
        client.stop()
    except EngineError:
        pass


class ProgressPrinter:
    """Turns events into the headless output: a progress line per interval and the final sample."""

    def __init__(self, as_json: bool, print_every: int | None):
        self.as_json = as_json
        self.print_every = print_every
        self.max_steps = 0
        self.val_loss: float | None = None
        self.losses: list[float] = []
        self.rate: float = 0.0
        self.sample: SampleGenerated | None = None
        self.finished_reason: str | None = None

    def show(self, event: Event) -> None:
        if self.as_json:
            print(event.to_json(), flush=True)
        if isinstance(event, TrainingStarted):
            self.max_steps = event.max_steps
            if not self.as_json:
                print(
                    f"{event.preset}: {event.n_params:,} parameters, {event.tokenizer} tokens "
                    f"(vocabulary {event.vocab_size:,}), {event.train_tokens:,} training tokens, "
                    f"on {event.device} -> {event.run_dir}",
                    flush=True,
                )
        elif isinstance(event, StepCompleted):
            self.losses.append(event.loss)
            self.rate = event.tokens_per_s
            self.tokens_per_step = event.tokens_seen / max(event.step, 1)
            if self.print_every and event.step % self.print_every == 0:
                self._line(event.step)
        elif isinstance(event, EvalCompleted):
            self.val_loss = event.val_loss
            if not self.print_every and event.step > 0:
                self._line(event.step)
        elif isinstance(event, SampleGenerated):
            self.sample = event
        elif isinstance(event, TrainingFinished):
            self.finished_reason = event.reason
            if not self.as_json:
                print(f"training {event.reason} at step {event.step}", flush=True)
                if self.sample:
                    print(f"\nsample at step {self.sample.step}:\n{self.sample.text}", flush=True)
        elif isinstance(event, (LossNotFinite, TrainingPaused, EngineFailed)) and not self.as_json:
            print(_describe(event), file=sys.stderr, flush=True)

    def _line(self, step: int) -> None:
        if self.as_json or not self.losses:
            return
        loss = sum(self.losses) / len(self.losses)
        self.losses.clear()
        val = f"{self.val_loss:.4f}" if self.val_loss is not None else "-"
        eta = "-"
        if self.rate > 0:
            seconds = (self.max_steps - step) * self.tokens_per_step / self.rate
            eta = time.strftime("%H:%M:%S", time.gmtime(max(0.0, seconds)))
        width = len(str(self.max_steps))
        print(
            f"step {step:>{width}}/{self.max_steps} | loss {loss:.4f} | val {val} | "
            f"{self.rate:,.0f} tok/s | ETA {eta}",
            flush=True,
        )


def _describe(event: Event) -> str:
    if isinstance(event, LossNotFinite):
        return f"warning: loss is {event.loss} at step {event.step}; the step was skipped"
    if isinstance(event, TrainingPaused):
        return f"paused at step {event.step}: {event.detail or event.cause}"
    assert isinstance(event, EngineFailed)
    saved = f"; last checkpoint: {event.last_checkpoint}" if event.last_checkpoint else ""
    return f"{PROG}: engine failed: {event.reason}{saved}"


def list_runs_command(argv: list[str]) -> int:
    from engine.run_listing import list_runs

    parser = OneLineParser(prog=f"{PROG} runs", description="List the runs under a directory.")
    parser.add_argument("root", nargs="?", type=Path, default=Path("runs"))
    args = parser.parse_args(argv)
    runs = list_runs(args.root)
    if not runs:
        print(f"no runs under {args.root}/")
        return 0
    print(f"{'RUN':<36} {'STATE':<9} {'STEP':>13} {'BEST VAL':>9} {'AGE':>8}")
    for run in runs:
        best = f"{run.best_val:.4f}" if run.best_val is not None else "-"
        print(
            f"{str(run.path):<36} {run.state:<9} {f'{run.step}/{run.max_steps}':>13} "
            f"{best:>9} {_age(run.age_s):>8}"
        )
    return 0


def stop_command(argv: list[str]) -> int:
    """`stop RUN_DIR`: checkpoint a running (typically detached) run and end its worker."""
    from engine.client import EngineClient
    from engine.run_listing import summarize_run, worker_alive

    parser = OneLineParser(prog=f"{PROG} stop", description="Stop a run, saving a checkpoint.")
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    if not worker_alive(args.run_dir):
        return fail(f"no worker is running for {args.run_dir}")
    try:
        EngineClient(args.run_dir).shutdown()
    except EngineError as error:
        return fail(str(error))
    run = summarize_run(args.run_dir)
    print(f"{args.run_dir}: {run.state} at step {run.step}; checkpoint saved")
    return 0


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"
