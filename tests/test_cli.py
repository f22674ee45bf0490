"""The command line as a user meets it: real processes, real exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine import describe
from engine.cli.commands import parse_args
from engine.cli.progress import ProgressPrinter, duration, safe_json
from engine.contract.config import SECTIONS
from engine.contract.events import (
    EvalCompleted,
    FinishReason,
    HistoryProgress,
    HistoryReplayed,
    LossNotFinite,
    SampleGenerated,
    StepCompleted,
    TrainingFinished,
    TrainingStarted,
)
from engine.contract.run_state import RunState
from engine.runs.files import INFO_FILE
from engine.runs.liveness import worker_info
from tests.conftest import PATIENCE_S, alive, as_a_terminal_job
from tui.cli import main as tui_main

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}


def tiny_run(corpus: Path, steps: int, *extra: str) -> list[str]:
    """Flags for a short headless run on the test corpus, into ./run."""
    return ["--headless", "--corpus", str(corpus), "--block-size", "8", "--steps", str(steps),
            "--run-dir", "run", *extra]  # fmt: skip


def run_cli(*args: str, cwd: Path, timeout: float = PATIENCE_S) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_orphans(tmp_path):
    """After each test, nothing it started is left running, even when the test failed."""
    yield
    for process in STARTED:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the client and its own worker
            process.wait()
    STARTED.clear()
    for info in tmp_path.glob("*/worker.json"):  # a detached worker has a session of its own
        pid = json.loads(info.read_text())["pid"]
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    """The CLI in its own process group, as a terminal's foreground job runs (Ctrl+C reaches it)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=as_a_terminal_job,
    )
    STARTED.append(process)
    return process


def wait_for_steps(
    run_dir: Path, count: int, process: subprocess.Popen | None = None, timeout: float = PATIENCE_S
) -> int:
    """Block until events.jsonl holds `count` step events (or `process` ends); returns how many."""
    events = run_dir / "events.jsonl"
    deadline = time.monotonic() + timeout
    steps = 0
    while time.monotonic() < deadline and (process is None or process.poll() is None):
        steps = events.read_text().count('"kind":"step"') if events.exists() else 0
        if steps >= count:
            break
        time.sleep(0.1)
    return steps


def read_line(process: subprocess.Popen, timeout: float = PATIENCE_S) -> str:
    """The process's next stdout line, or "" if none comes within timeout."""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        return process.stdout.readline() if selector.select(timeout) else ""


def printed_steps(text: str) -> list[int]:
    """The steps of the progress lines ("step  12/100 | loss ...") in the output."""
    return [
        int(line.split("/")[0].split()[-1]) for line in text.splitlines() if line.startswith("step")
    ]


# -- parsing and help (in process: no worker, no torch) ----------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corpus", "missing.txt"], "corpus missing.txt does not exist"),
        (["--corpus", "empty.txt"], "corpus empty.txt is empty"),
        (["--corpus", "latin1.txt"], "is not UTF-8 text (bad byte at offset 3)"),
        (["--corpus", "short.txt"], "has 3 word tokens; with block_size 6 it needs at least"),
        (["--n-embd", "30", "--n-head", "4"], "n_embd 30 is not divisible by n_head 4"),
        (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
        (["--steps", "-1", "--dropout", "2"], "max_steps -1 must not be negative"),
        (["--tokenizer", "morse"], "tokenizer 'morse' is not one of word, char, bpe"),
        (["--resume", "nowhere"], "nowhere/config.json is missing"),
        (["--resume", "nowhere", "--preset", "char-small"], "--preset cannot apply to --resume"),
        (["--print-every", "0"], "argument --print-every: 0 must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("café olé".encode("latin-1"))
    (tmp_path / "short.txt").write_text("oh my love")
    result = run_cli("--headless", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["attach", "nowhere"], "nowhere/config.json is missing: nowhere is not a run directory"),
        (["--json"], "--json goes with --headless"),
        (["trian"], "invalid choice: 'trian'"),
        (["attach"], "the following arguments are required: RUN_DIR"),
    ],
)
def test_refused_before_any_ui_opens(tmp_path, args, message):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""  # no UI drew anything
    assert list(tmp_path.iterdir()) == []  # and no worker wrote anything


def test_train_is_the_default_command():
    assert parse_args([]).command == "train"
    args = parse_args(["--steps", "5", "--headless"])
    assert (args.command, getattr(args, "train.max_steps"), args.headless) == ("train", 5, True)
    assert parse_args(["attach", "runs/x", "--headless"]).run_dir == Path("runs/x")
    assert parse_args(["runs"]).root == Path("runs")


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "attach", "runs", "stop"):
        assert f"\n    {command} " in out


def test_every_flag_shows_its_field_description(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        parse_args(["train", "--help"])
    squeezed = "".join(capsys.readouterr().out.split())  # argparse wraps lines (and hyphens)
    for section, cls in SECTIONS.items():
        for field in fields(cls):
            text = describe(section, field.name)
            assert len(text) > 20, f"{section}.{field.name} has no real description"
            if (section, field.name) != ("model", "vocab_size"):  # no flag: the tokenizer sets it
                assert "".join(text.split()) in squeezed, f"--help lacks {section}.{field.name}"
    with pytest.raises(KeyError):
        describe("model", "no_such_field")


# -- headless output (in process: the printer alone) --------------------------------------------


def started(step: int = 0, max_steps: int = 100) -> TrainingStarted:
    return TrainingStarted("run", "seed", "cpu", "float32", "word", 30, 1000, 2, 2, 32, 8, 16,
                           step, max_steps, 400, 40)  # fmt: skip


def step(n: int) -> StepCompleted:
    return StepCompleted(n, 2.0, 1e-3, 1.0, 1000.0, n * 0.01, n * 128)


def test_a_follower_prints_at_its_own_pace_and_at_each_eval():
    out = io.StringIO()
    printer = ProgressPrinter(interval_s=3600, out=out, err=io.StringIO())
    for event in [started(), *map(step, range(1, 10)), EvalCompleted(9, 2.0, 2.5)]:
        printer.show(event)
    assert printed_steps(out.getvalue()) == [9]  # the eval's line; the interval is not yet up
    printer.interval_s = 0.0  # from now on every step is due
    for event in map(step, range(10, 13)):
        printer.show(event)
    assert printed_steps(out.getvalue()) == [9, 10, 11, 12]
    last = out.getvalue().splitlines()[-1]
    assert "val 2.5000" in last and "12,800 tok/s" in last and "ETA 00:00:00" in last


def test_history_is_one_summary_line():
    out = io.StringIO()
    history = [started(), *map(step, range(1, 21)), EvalCompleted(10, 2.0, 1.5),
               EvalCompleted(20, 2.0, 1.7), TrainingFinished(FinishReason.STOPPED, 20)]  # fmt: skip
    printer = ProgressPrinter(history=True, max_steps=50, out=out, err=io.StringIO())
    for event in [*history, HistoryProgress(90, 100), HistoryReplayed(len(history), 20)]:
        printer.show(event)
    assert printer.history_ended and out.getvalue() == ""
    printer.summarize()
    for event in [started(20, 50), *map(step, range(21, 26))]:
        printer.show(event)
    lines = out.getvalue().splitlines()
    assert lines[0] == "resumed run at step 20/50: best val 1.5000 at step 10"
    assert not any(line.startswith("step") for line in lines)  # no eval yet in the new segment
    assert printer.state is RunState.RUNNING and not printer.replaying


def test_the_first_line_after_a_resume_is_the_uninterrupted_runs_line():
    """Stopped at step 15 and resumed: the line at the eval of step 20 averages steps 11-20 and
    measures the rate since step 10, as the run that was never stopped printed it."""

    def evaluated(n: int) -> list:
        return [step(n), EvalCompleted(n, 2.0, 1.5)] if n % 10 == 0 else [step(n)]

    def losses(n: int) -> StepCompleted:  # a loss and a pace that change along the run
        return replace(step(n), loss=2.0 + n / 100, elapsed_s=n * 0.01 + (n > 12) * 0.5)

    def run(events: list) -> list:
        return [replace(e, **vars(losses(e.step))) if isinstance(e, StepCompleted) else e
                for e in events]  # fmt: skip

    whole = run([started(0, 50), *(e for n in range(1, 21) for e in evaluated(n))])
    uninterrupted = io.StringIO()
    printer = ProgressPrinter(max_steps=50, out=uninterrupted, err=io.StringIO())
    for event in whole:
        printer.show(event)
    past = run([started(0, 50), *(e for n in range(1, 16) for e in evaluated(n))])
    resumed = io.StringIO()
    printer = ProgressPrinter(history=True, max_steps=50, out=resumed, err=io.StringIO())
    for event in [*past, HistoryReplayed(len(past), 15)]:
        printer.show(event)
    printer.summarize()
    for event in run([started(15, 50), *(e for n in range(16, 21) for e in evaluated(n))]):
        printer.show(event)
    assert resumed.getvalue().splitlines()[-1] == uninterrupted.getvalue().splitlines()[-1]
    assert resumed.getvalue().splitlines()[-1].startswith("step 20/50 | loss 2.1550")


def test_an_eta_past_a_day_or_a_century_is_shown_in_hours():
    assert [duration(s) for s in (59.9, 90_061, 3600 * 10**9, float("inf"), -1)] == [
        "00:00:59", "25:01:01", f"{10**9}:00:00", "-", "-",
    ]  # fmt: skip


def test_what_was_not_finite_is_named_with_its_value():
    err = io.StringIO()
    printer = ProgressPrinter(err=err, out=io.StringIO())
    printer.show(LossNotFinite(3, 2.5, float("inf"), "gradient norm"))
    printer.show(LossNotFinite(4, float("nan"), float("nan"), "loss"))
    assert err.getvalue().splitlines() == [
        "warning: the gradient norm became inf at step 3; step skipped",
        "warning: the loss became nan at step 4; step skipped",
    ]


def test_model_text_is_printed_visibly():
    out = io.StringIO()
    printer = ProgressPrinter(out=out, err=io.StringIO())
    printer.show(SampleGenerated(5, "oh", "oh \x1b]0;x\x07\x1b[2J\x9b1m love"))
    printer.show(TrainingFinished(FinishReason.COMPLETED, 5))
    assert "\x1b" not in out.getvalue() and "\x9b" not in out.getvalue()
    assert "␛]0;x␇␛[2J<U+009B>1m love" in out.getvalue()
    line = SampleGenerated(5, "oh", "a\x9bb\u202ec").to_json()
    assert json.loads(safe_json(line))["text"] == "a\x9bb\u202ec"  # same data, escaped
    assert safe_json(line).isascii()


# -- real runs ----------------------------------------------------------------------------------


def test_headless_run_prints_progress_then_the_sample(tmp_path, corpus):
    result = run_cli(*tiny_run(corpus, 40, "--eval-every", "20"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    progress = [line for line in lines if line.startswith("step")]
    assert len(progress) == 2 and progress[-1].startswith("step 40/40 | loss ")
    assert "tok/s" in progress[0] and "ETA" in progress[0] and "val " in progress[0]
    assert "sample at step 40:" in result.stdout
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_json_mode_prints_one_event_per_line(tmp_path, corpus):
    result = run_cli(*tiny_run(corpus, 5, "--json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    kinds = [json.loads(line)["kind"] for line in result.stdout.splitlines()]
    assert kinds[0] == "training_started" and kinds[-1] == "finished"
    assert kinds.count("step") == 5


def test_escape_sequences_from_a_prompt_or_run_name_never_reach_the_terminal(tmp_path, corpus):
    nasty = b"\x1b]0;x\x07\x1b[2J\xff"  # and a byte that is not UTF-8 (a lone surrogate in str)
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", *tiny_run(corpus, 3, "--eval-every", "3"),
         "--prompt", b"oh " + nasty, "--run-dir", b"run" + nasty],
        cwd=tmp_path, env=ENV, capture_output=True, timeout=PATIENCE_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"\x1b" not in result.stdout + result.stderr and b"\x07" not in result.stdout
    assert "oh ␛]0;x␇␛[2J<U+DCFF>" in result.stdout.decode()  # the prompt, made visible
    assert "-> run␛]0;x␇␛[2J<U+DCFF>" in result.stdout.decode()
    assert (tmp_path / os.fsdecode(b"run" + nasty) / "model.safetensors").exists()


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path, corpus):
    process = start_cli(*tiny_run(corpus, 1_000_000, "--eval-every", "100000"), cwd=tmp_path)
    assert wait_for_steps(tmp_path / "run", 20, process) >= 20
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = process.communicate(timeout=PATIENCE_S)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    events = tmp_path / "run" / "events.jsonl"
    last = [json.loads(line) for line in events.read_text().splitlines()][-2:]
    assert last[0]["kind"] == "checkpoint" and last[1]["kind"] == "finished"
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_runs_lists_state_step_and_best_val(tmp_path, corpus):
    run_cli(*tiny_run(corpus, 10, "--eval-every", "5", "--run-dir", "runs/first"), cwd=tmp_path)
    result = run_cli("runs", cwd=tmp_path)
    assert result.returncode == 0
    row = result.stdout.splitlines()[1].split()
    assert row[:3] == ["runs/first", "finished", "10/10"]
    assert float(row[3]) > 0


def test_cli_imports_neither_textual_nor_torch():
    code = (
        "import sys, engine, engine.cli.commands, engine.cli.progress, engine.process.client, "
        "tui.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich', 'torch'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_headless_owner_ends_a_run_paused_by_a_non_finite_value(tmp_path, corpus):
    result = run_cli(*tiny_run(corpus, 50, "--eval-every", "25", "--lr", "1e30"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "stopped the run: the loss became nan at step 2" in last
    assert "last good checkpoint: run/model.safetensors" in last
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").open()]
    assert events[-1] == {"kind": "finished", "reason": "stopped", "step": 1}
    assert not (tmp_path / "run" / INFO_FILE).exists()  # the worker is gone, not left paused


@pytest.mark.slow
def test_detach_then_follow_then_stop(tmp_path, corpus, monkeypatch, capsys):
    started = run_cli(*tiny_run(corpus, 1_000_000, "--eval-every", "100000", "--detach"),
                      cwd=tmp_path)  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines() == [
        "training in the background: run",
        "  follow it: llmlearns-tui attach run",
        "  stop it:   llmlearns-tui stop run",
    ]
    pid = worker_info(tmp_path / "run")["pid"]
    assert wait_for_steps(tmp_path / "run", 5) >= 5
    # A follower's Ctrl-C ends the follower only; the run keeps training.
    follower = start_cli("attach", "run", "--headless", cwd=tmp_path)
    summary = read_line(follower)
    assert summary.startswith("attached to run (running) at step "), summary
    os.killpg(follower.pid, signal.SIGINT)
    _, err = follower.communicate(timeout=PATIENCE_S)
    assert follower.returncode == 130 and "Traceback" not in err
    before = wait_for_steps(tmp_path / "run", 0)
    assert wait_for_steps(tmp_path / "run", before + 5) >= before + 5 and alive(pid)
    # Quitting the TUI (here a stand-in for it) on a run that goes on says how to come back.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("tui.app.run_app", lambda connect, **_: connect() and 0)
    monkeypatch.setattr(
        "tui.cli.connect_from_args",
        lambda args: SimpleNamespace(run_dir=args.run_dir, close=lambda: None),
    )
    capsys.readouterr()
    assert tui_main(["attach", "run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "run keeps training in the background",
        "  follow it: llmlearns-tui attach run",
        "  stop it:   llmlearns-tui stop run",
    ]
    stopped = run_cli("stop", "run", cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("run: stopped at step ")
    assert tui_main(["attach", "run"]) == 0 and capsys.readouterr().out == ""  # nothing goes on
    events = (tmp_path / "run" / "events.jsonl").read_text().splitlines()
    assert json.loads(events[-1])["kind"] == "finished"
    again = run_cli("stop", "run", cwd=tmp_path)
    assert again.returncode == 2 and "no worker is running for run" in again.stderr


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """A run trained to step 10, refused a resume without more steps, then resumed to 20."""
    from tests.conftest import SONG

    cwd = tmp_path_factory.mktemp("resumed")
    corpus = cwd / "corpus.txt"
    corpus.write_text(SONG * 12, encoding="utf-8")
    first = run_cli(*tiny_run(corpus, 10, "--eval-every", "5"), cwd=cwd)
    assert first.returncode == 0, first.stderr
    refused = run_cli("--resume", "run", "--headless", cwd=cwd)
    second = run_cli("--resume", "run", "--headless", "--steps", "20", "--eval-every", "5",
                     cwd=cwd)  # fmt: skip
    return cwd, refused, second


@pytest.mark.slow
def test_resuming_a_finished_run_says_how_to_extend_it(resumed):
    _, refused, _ = resumed
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "llmlearns-tui: error: run is finished (step 10/10); to train it further, give it more "
        "steps: llmlearns-tui --resume run --steps N, with N > 10"
    )


@pytest.mark.slow
def test_a_headless_resume_sums_up_the_history_in_one_line(resumed):
    _, _, second = resumed
    assert second.returncode == 0, second.stderr
    cwd, _, _ = resumed
    evals = [
        e for e in map(json.loads, (cwd / "run" / "events.jsonl").open()) if e["kind"] == "eval"
    ]
    best = min(evals[:3], key=lambda e: e["val_loss"])  # the first segment's: steps 0, 5, 10
    lines = second.stdout.splitlines()
    assert (
        lines[0]
        == f"resumed run at step 10/20: best val {best['val_loss']:.4f} at step {best['step']}"
    )
    assert printed_steps(second.stdout) == [15, 20]  # nothing from the first segment
    assert "training completed at step 20" in lines


@pytest.mark.slow
def test_attach_headless_follows_a_resumed_run_to_its_real_end(resumed):
    cwd, _, _ = resumed
    text = run_cli("attach", "run", "--headless", cwd=cwd)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("attached to run (finished) at step 20/20: best val ")
    assert "sample at step 20:" in text.stdout
    raw = run_cli("attach", "run", "--headless", "--json", cwd=cwd)
    finished = [e for e in map(json.loads, raw.stdout.splitlines()) if e["kind"] == "finished"]
    assert [e["step"] for e in finished] == [10, 20]  # past the first segment's end


@pytest.mark.slow
def test_a_killed_worker_on_a_resumed_run_exits_non_zero(resumed, tmp_path):
    cwd, _, _ = resumed
    # Not the files of a worker still lingering there (an attach's idle worker).
    shutil.copytree(cwd / "run", tmp_path / "run", ignore=shutil.ignore_patterns("worker.*"))
    client = start_cli("--resume", "run", "--headless", "--steps", "1000000", cwd=tmp_path)
    assert wait_for_steps(tmp_path / "run", 30, client) >= 30  # 20 came with the copy: 10 live ones
    os.kill(worker_info(tmp_path / "run")["pid"], signal.SIGKILL)
    _, err = client.communicate(timeout=PATIENCE_S)
    assert client.returncode == 1
    assert "engine failed: the engine worker was killed (SIGKILL)" in err
    # Its history ends mid-run, with no word of the end: attaching must still end, not wait.
    attached = run_cli("attach", "run", "--headless", cwd=tmp_path)
    assert attached.stdout.startswith("attached to run (failed) at step "), attached.stderr
    assert attached.returncode == 1  # as `runs` says: it failed (and can be resumed)
