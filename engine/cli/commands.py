"""The command line: one parser tree (train, attach, replay, runs, stop, export), the checks that
need no worker, and the headless client.

Every config field has a flag whose help is the field's own description (config.describe). Bad
input ends in one line on stderr and exit code 2, before any worker starts or any UI opens.
Torch is never imported here: training happens in the worker process.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from engine.cli.cache import add_cache_parser, cache_command
from engine.cli.progress import (
    EXIT_INTERRUPTED,
    PRINT_INTERVAL_S,
    PROG,
    ProgressPrinter,
    age,
    follow,
    one_line,
)
from engine.cli.sharing import add_sharing_parsers, report_command
from engine.contract.codec import line_prefix
from engine.contract.config import (
    DEFAULT_PRESET,
    DEVICES,
    PRESETS,
    PRETRAINED_PRESETS,
    SECTIONS,
    TOKENIZERS,
    RunConfig,
    describe,
    preset,
)
from engine.contract.errors import EngineError
from engine.contract.events import CheckpointSaved, event_from_json
from engine.data.corpus import resolve_corpus
from engine.model.pretrained import with_pretrained
from engine.process.launch import check_nproc
from engine.runs.files import EVENTS, load_config, read_events

EXIT_BAD_INPUT = 2
# Flags named for the vocabulary rather than the field: --steps sets train.max_steps.
ALIASES = {
    ("train", "max_steps"): ["--steps", "--max-steps"],
    ("sample", "seed"): ["--sample-seed"],
}
HIDDEN = {("model", "vocab_size")}  # set by the tokenizer, never by hand
METAVARS = {"tokenizer": "|".join(TOKENIZERS), "device": "|".join(DEVICES), "corpus": "PATH"}
_TYPES = {"int": int, "float": float, "str": str}
TAIL_BYTES = 1 << 16  # the end of events.jsonl read to find the last checkpoint


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump) and exits 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {one_line(message)}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for every config field, its help the field's description."""
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        help=f"the settings to start from (default: {DEFAULT_PRESET})",
    )
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} settings")
        for field in fields(cls):
            if (section, field.name) in HIDDEN:
                continue
            names = ALIASES.get((section, field.name), [f"--{field.name.replace('_', '-')}"])
            dest = f"{section}.{field.name}"
            help_text = describe(section, field.name).replace("%", "%%")
            if field.type == "bool":
                group.add_argument(
                    *names,
                    dest=dest,
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help=help_text,
                )
            else:
                group.add_argument(
                    *names,
                    dest=dest,
                    type=_TYPES[str(field.type)],  # a string: annotations are postponed
                    default=None,
                    metavar=METAVARS.get(field.name, field.name.upper()),
                    help=help_text,
                )


def _add_output_flags(parser: argparse.ArgumentParser, pace: str) -> None:
    parser.add_argument(
        "--tour",
        action="store_true",
        help="the TUI's guided tour: short notes on what to look at as the model trains",
    )
    parser.add_argument("--headless", action="store_true", help="no UI: print progress lines")
    parser.add_argument("--json", action="store_true", help="with --headless: events as JSON")
    parser.add_argument(
        "--print-every",
        type=_positive_int,
        metavar="STEPS",
        help=f"with --headless: steps between progress lines (default: {pace})",
    )


def _add_compare_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compare",
        action="append",
        type=Path,
        metavar="RUN_DIR",
        help="draw another run's val and smoothed train curves beside this one on the TUI's "
        "chart (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: train (the default command), attach, replay, runs, stop, export,
    cache, report, serve."""
    parser = OneLineParser(
        prog=PROG,
        description="Train a small GPT and watch it learn. With no arguments: the TUI, training "
        f"the {DEFAULT_PRESET} preset on the bundled corpus.",
        epilog=f"With no command, train is meant: '{PROG} --steps 500' is '{PROG} train --steps "
        f"500'. '{PROG} COMMAND --help' lists a command's flags, each with what it does.",
    )
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    train = commands.add_parser(
        "train",
        usage=f"{PROG} [train] [--tour | --headless [--json]] [--detach] [--resume RUN_DIR] "
        "[--nproc-per-node N] [--preset NAME] [SETTING FLAGS]",
        help="train a new run, or resume one (the default)",
        description="Train a new run (or resume a stopped one) in a worker process; by default "
        "the TUI shows it. Every setting has a flag; the preset gives the rest.",
    )
    _add_output_flags(train, "each eval")
    train.add_argument(
        "--detach",
        action="store_true",
        help="start the run in the background, print its directory and how to attach, return",
    )
    train.add_argument(
        "--run-dir", type=Path, help="where the run goes (default runs/<preset>-<time>)"
    )
    train.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue a stopped run from its last checkpoint (give --steps to extend one)",
    )
    train.add_argument(
        "--nproc-per-node",
        type=_positive_int,
        default=1,
        metavar="N",
        help="train on N processes under torchrun (DDP: one GPU each, or the CPU with gloo); "
        "each takes batch_size / N rows of the same global batch",
    )
    _add_compare_flag(train)
    add_config_flags(train)
    attach = commands.add_parser(
        "attach",
        help="follow a running or finished run",
        description="Follow a run: its history, then live. Leaving (q, or Ctrl-C with "
        "--headless) leaves the run training; only its owner or 'stop' ends it.",
    )
    attach.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="e.g. runs/seed-20261125-142501"
    )
    _add_output_flags(attach, f"every {PRINT_INTERVAL_S:g} s and each eval")
    _add_compare_flag(attach)
    replay = commands.add_parser(
        "replay",
        help="open the TUI on a run and play its history back from step 0",
        description="Open the TUI attached to a run (finished, stopped or still training) and "
        "play its history back from step 0: every view shows the replayed step, and Generate and "
        "Inside ask the weights kept nearest before it. Replay only reads the run; a run still "
        "training goes on. In the TUI, space pauses, the arrows go by eval and esc goes live.",
    )
    replay.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="e.g. runs/seed-20261125-142501"
    )
    _add_compare_flag(replay)
    replay.set_defaults(headless=False, json=False, print_every=None, tour=False)  # TUI only
    runs = commands.add_parser("runs", help="list runs: state, step, best val loss, age")
    runs.add_argument(
        "root", nargs="?", type=Path, default=Path("runs"), help="where to look (default: runs)"
    )
    stop = commands.add_parser("stop", help="stop a run, saving a checkpoint, and end its worker")
    stop.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run to stop")
    export = commands.add_parser(
        "export",
        help="write a run for other tools: its history for TensorBoard, its model as GPT-2",
        description="--tensorboard OUT_DIR: the run's losses, learning rate, gradient norm, "
        "tokens/s and samples as TensorBoard event files in OUT_DIR/<run name>/ (needs: pip "
        "install 'llm-learns[tensorboard]'; view them with: tensorboard --logdir OUT_DIR). "
        "--hf OUT_DIR: the run's model as a Hugging Face GPT-2 folder (config.json, "
        "model.safetensors, tokenizer.json) for transformers or TransformerLens.",
    )
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run to export")
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--tensorboard", type=Path, metavar="OUT_DIR", help="the history, for TensorBoard"
    )
    target.add_argument("--hf", type=Path, metavar="OUT_DIR", help="the model, as GPT-2")
    add_cache_parser(commands)
    add_sharing_parsers(commands)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse a command line; with no command (or only flags) the command is train."""
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]
    return build_parser().parse_args(argv)


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """The preset (or base) with every given flag applied, and GPT-2's size where --init-from
    gives its files; raises ConfigError listing problems. With --init-from and no preset, the
    preset is gpt2-finetune."""
    overrides = overrides_from_args(args)
    pretrained = overrides.get("model", {}).get("init_from")
    default = PRETRAINED_PRESETS[0] if pretrained else DEFAULT_PRESET
    config = base or preset(args.preset or default)
    return with_pretrained(config.with_overrides(overrides))


def overrides_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for key, value in vars(args).items():
        if "." in key and value is not None:
            section, name = key.split(".", 1)
            overrides.setdefault(section, {})[name] = value
    return overrides


def run_command(args: argparse.Namespace) -> int | None:
    """Run a command that needs no worker and no UI (runs, stop, export, cache, report) and
    return its exit code; None for train, attach, replay and serve."""
    command = {
        "runs": list_runs_command,
        "stop": stop_command,
        "export": export_command,
        "cache": cache_command,
        "report": report_command,
    }.get(args.command)
    return None if command is None else command(args)


def fail(message: str) -> int:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return EXIT_BAD_INPUT


def check_args(args: argparse.Namespace) -> RunConfig | None:
    """What can be refused without a worker, refused; returns the new run's config, if one.

    Raises EngineError with the one-line reason.
    """
    if args.command not in (
        "train",
        "attach",
        "replay",
    ):  # a caller that has not run run_command first
        raise EngineError(f"'{args.command}' is not run this way: see engine.cli.run_command")
    if args.json and not args.headless:
        raise EngineError("--json goes with --headless")
    if args.print_every and not args.headless:
        raise EngineError("--print-every goes with --headless")
    if args.tour and (args.headless or getattr(args, "detach", False)):
        other = "--headless" if args.headless else "--detach"
        raise EngineError(f"--tour shows notes in the TUI, so it cannot go with {other}")
    if args.compare:
        if args.headless or getattr(args, "detach", False):
            raise EngineError(
                "--compare draws on the TUI's chart: it does not go with --headless or --detach"
            )
        from engine.runs.listing import comparable_run

        for run_dir in args.compare:
            comparable_run(run_dir)  # missing, or not a run: say so before any UI opens
    if args.command in ("attach", "replay"):
        load_config(args.run_dir)  # not a run directory: say so before any UI opens
        return None
    if args.resume:
        if args.preset:
            raise EngineError(
                "--preset cannot apply to --resume: a resumed run keeps its own settings "
                "(start a new run to use another preset)"
            )
        if args.run_dir:
            raise EngineError("--run-dir cannot apply to --resume: a run stays in its directory")
        resumed = load_config(args.resume).for_resume(overrides_from_args(args))
        _check_resumable(args.resume, resumed)
        check_nproc(args.nproc_per_node, resumed.train.device, resumed.train.batch_size)
        return None
    config = config_from_args(args)
    resolve_corpus(config.data.corpus)
    check_nproc(args.nproc_per_node, config.train.device, config.train.batch_size)
    return config


def _check_resumable(run_dir: Path, config: RunConfig) -> None:
    """A run whose checkpoint reached max_steps has nothing to resume unless given more steps."""
    step = last_checkpoint_step(run_dir)
    max_steps = config.train.max_steps
    if step >= max_steps:
        shown = shlex.quote(one_line(str(run_dir)))
        raise EngineError(
            f"{one_line(str(run_dir))} is finished (step {step}/{max_steps}); to train it "
            f"further, give it more steps: {PROG} --resume {shown} --steps N, with N > {step}"
        )


def last_checkpoint_step(run_dir: Path) -> int:
    """The step of the run's last checkpoint, which a resume starts from (0 if none)."""
    path = run_dir / EVENTS
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - TAIL_BYTES))
            tail = file.read().splitlines()
    except OSError:
        return 0
    if size > TAIL_BYTES:
        tail = tail[1:]  # the first line read is a fragment
    for line in reversed(tail):
        if line.startswith(line_prefix(CheckpointSaved.kind)):
            try:
                event = event_from_json(line)
            except (ValueError, TypeError):
                continue
            if isinstance(event, CheckpointSaved):
                return event.step
    if size > TAIL_BYTES:  # a long stretch without a checkpoint: read it all
        steps = [e.step for e in read_events(run_dir) if isinstance(e, CheckpointSaved)]
        return steps[-1] if steps else 0
    return 0


def connect_from_args(args: argparse.Namespace):
    """Start, resume or attach to a worker as the flags say; raises EngineError on bad input."""
    from engine.process.client import EngineClient

    if args.command in ("attach", "replay"):
        return EngineClient.attach(args.run_dir)
    nproc = args.nproc_per_node
    if args.resume:
        overrides = overrides_from_args(args)
        return EngineClient.resume_run(args.resume, overrides, detach=args.detach, nproc=nproc)
    return EngineClient.start(config_from_args(args), args.run_dir, detach=args.detach, nproc=nproc)


def print_in_background(run_dir: Path, first_line: str) -> None:
    """Tell the user where a run that outlives this command is, and how to reach it again."""
    shown = shlex.quote(one_line(str(run_dir)))
    print(first_line.format(run_dir=one_line(str(run_dir))))
    print(f"  follow it: {PROG} attach {shown}")
    print(f"  stop it:   {PROG} stop {shown}")


def run_headless(args: argparse.Namespace) -> int:
    """Train (or follow) without a UI; returns the process exit code."""
    attach = args.command == "attach"
    known_dir = args.run_dir if attach else args.resume
    # A resumed run's past is what its log held before this command resumed it.
    history_bytes = None if attach or not args.resume else _size(args.resume / EVENTS)
    try:
        client = connect_from_args(args)
    except EngineError as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if getattr(args, "detach", False):
        print_in_background(client.run_dir, "training in the background: {run_dir}")
        client.close()
        return 0
    printer = ProgressPrinter(
        as_json=args.json,
        print_every=args.print_every,
        interval_s=PRINT_INTERVAL_S if attach else None,
        history=known_dir is not None,  # attached or resumed: the run has a past to sum up
        verb="attached to" if attach else "resumed",
        max_steps=None if attach or not args.resume else _resumed_max_steps(args),
    )
    printer.run_dir = str(known_dir or "")
    return follow(client, printer, owner=not attach, history_bytes=history_bytes)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _resumed_max_steps(args: argparse.Namespace) -> int:
    config = load_config(args.resume).for_resume(overrides_from_args(args))
    return config.train.max_steps


def list_runs_command(args: argparse.Namespace) -> int:
    """`runs [ROOT]`: one line per run, newest first."""
    from engine.runs.listing import list_runs

    runs = list_runs(args.root)
    if not runs:
        print(f"no runs under {one_line(str(args.root))}/")
        return 0
    print(f"{'RUN':<36} {'STATE':<9} {'STEP':>13} {'BEST VAL':>9} {'AGE':>8}")
    for run in runs:
        best = f"{run.best_val:.4f}" if run.best_val is not None else "-"
        print(
            f"{one_line(str(run.path)):<36} {run.state:<9} {f'{run.step}/{run.max_steps}':>13} "
            f"{best:>9} {age(run.age_s):>8}"
        )
    return 0


def stop_command(args: argparse.Namespace) -> int:
    """`stop RUN_DIR`: checkpoint a running (typically detached) run and end its worker."""
    from engine.process.client import EngineClient
    from engine.runs.listing import summarize_run
    from engine.runs.liveness import worker_alive

    shown = one_line(str(args.run_dir))
    if not worker_alive(args.run_dir):
        return fail(f"no worker is running for {shown}")
    try:
        EngineClient(args.run_dir).shutdown()
    except EngineError as error:
        return fail(str(error))
    run = summarize_run(args.run_dir)
    print(f"{shown}: {run.state} at step {run.step}; checkpoint saved")
    return 0


def export_command(args: argparse.Namespace) -> int:
    """`export RUN_DIR --tensorboard OUT_DIR` (the history as TensorBoard event files) or
    `--hf OUT_DIR` (the model as a Hugging Face GPT-2 folder)."""
    if args.hf is not None:
        return _export_hf(args.run_dir, args.hf)
    from engine.runs.export import export_tensorboard

    try:
        path = export_tensorboard(args.run_dir, args.tensorboard)
    except EngineError as error:
        return fail(str(error))
    print(
        f"wrote {one_line(str(path))}; view it with: tensorboard --logdir "
        f"{shlex.quote(one_line(str(args.tensorboard)))}"
    )
    return 0


def _export_hf(run_dir: Path, out_dir: Path) -> int:
    from engine.training.hf_export import export_hf  # torch: only for this command

    try:
        written = export_hf(run_dir, out_dir)
    except EngineError as error:
        return fail(str(error))
    shown = one_line(str(out_dir))
    print(f"wrote {shown}/ ({', '.join(written)}); load it with transformers' "
          f"GPT2LMHeadModel.from_pretrained({shown!r})")  # fmt: skip
    return 0
