"""The token cache: streaming tokenisation equals whole-text tokenisation, a second run reuses the
cache, a changed corpus or setting misses it, a damaged entry is rebuilt, progress is reported."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import (
    WIRE_ONLY,
    DataConfig,
    EngineError,
    EngineFailed,
    FinishReason,
    RunState,
    TokenizeProgress,
    TokenizeStage,
    TrainingFinished,
    TrainingStarted,
    WriteError,
    advance,
)
from engine.data.corpus import read_chunks
from engine.data.dataset import load_dataset
from engine.data.token_cache import _pieces, cache_dir, encode_stream, tokenize
from engine.data.tokenizer import BPETokenizer, CharTokenizer, WordTokenizer
from engine.process.client import EngineClient
from engine.process.preparation import Preparation
from engine.process.worker import Worker
from engine.training.trainer import Trainer
from tests.conftest import PATIENCE_S, tiny_config

READS = [TokenizeStage.HASH, TokenizeStage.VOCAB, TokenizeStage.ENCODE]  # the passes over bytes
# Runs of spaces and line breaks, indentation, apostrophes, digits and multi-byte characters: the
# places where a careless cut changes what BPE or the word splitter sees.
TEXT = (
    "Oh my love,  you shine\n\n  like the morning sun — don't go.\n"
    "Ünïcödé wörds: 日本語の歌 and emoji 🎵🎶 at 10:30\n\n\n"
    "    indented line\twith a tab\n"
    "「日本語。」\n«quoted»\n"
    "the end   \n"
) * 7


def _train(kind: str, text: str):
    if kind == "word":
        return WordTokenizer.train([text])
    if kind == "char":
        return CharTokenizer.train([text])
    return BPETokenizer.train([text], 300)


def _stream_ids(tokenizer, chunks) -> list[int]:
    return np.concatenate(list(encode_stream(tokenizer, chunks))).tolist()


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
@pytest.mark.parametrize("size", [1, 5, 7, 64])
def test_streaming_equals_whole_text_wherever_the_chunks_are_cut(kind, size, monkeypatch):
    monkeypatch.setattr("engine.data.token_cache.PIECE_CHARS", 16)  # many pieces per chunk, too
    tokenizer = _train(kind, TEXT)
    whole = tokenizer.encode(TEXT).ids
    chunks = [TEXT[i : i + size] for i in range(0, len(TEXT), size)]  # mid-word, mid-run
    assert _stream_ids(tokenizer, chunks) == whole


def test_text_without_spaces_is_still_cut_into_pieces(monkeypatch):
    monkeypatch.setattr("engine.data.token_cache.PIECE_CHARS", 16)
    text = "漢字の歌。\n" * 100
    tokenizer = BPETokenizer.train([text], 300)
    assert np.concatenate(list(encode_stream(tokenizer, [text]))).tolist() == (
        tokenizer.encode(text).ids
    )
    assert len(list(_pieces([text]))) > 20  # many pieces, not one held whole


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
def test_streaming_from_a_file_read_in_chunks_that_split_utf8_characters(kind, tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(TEXT, encoding="utf-8")
    tokenizer = _train(kind, TEXT)
    assert _stream_ids(tokenizer, read_chunks(path, chunk_bytes=3)) == tokenizer.encode(TEXT).ids


def _corpus(tmp_path: Path, text: str = TEXT, name: str = "c.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _tokenize(path: Path, tokenizer: str = "char", **data):
    seen: list[TokenizeProgress] = []
    config = DataConfig(corpus=str(path), tokenizer=tokenizer, **data)
    found, tokens = tokenize(config, path, progress=seen.append)
    return found, tokens, seen


def _entries() -> list[Path]:
    return sorted(cache_dir().glob("*.tokens"))


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_the_cache_holds_owner_only_files_under_xdg_cache_home(tmp_path):
    tokenizer, tokens, _ = _tokenize(_corpus(tmp_path))
    assert cache_dir() == tmp_path / "cache" / "llm-learns" / "tokens"
    assert tokens.tolist() == tokenizer.encode(TEXT).ids
    files = list(cache_dir().iterdir())
    assert {p.suffix for p in files} == {".tokens", ".json"} and len(files) == 3
    assert all(p.stat().st_mode & 0o077 == 0 for p in [*files, cache_dir()])


def test_a_second_run_reuses_the_cache_without_tokenising(tmp_path):
    path = _corpus(tmp_path)
    first, tokens, seen = _tokenize(path)
    assert {e.stage for e in seen} == set(READS)  # char: no merges; nobody else: no wait
    [entry] = _entries()
    before = entry.stat()
    second, again, seen = _tokenize(path)
    assert {e.stage for e in seen} == {TokenizeStage.HASH}  # no vocabulary, no encoding
    assert (entry.stat().st_ino, entry.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert second.to_json() == first.to_json() and torch.equal(again, tokens)


def test_a_changed_corpus_or_setting_misses(tmp_path):
    path = _corpus(tmp_path)
    _tokenize(path, "bpe", bpe_vocab_size=300)
    for change in ({"bpe_vocab_size": 280}, {"tokenizer": "word"}):
        _, _, seen = _tokenize(path, **{"tokenizer": "bpe", "bpe_vocab_size": 300, **change})
        assert TokenizeStage.ENCODE in {e.stage for e in seen}, change
    path.write_text(TEXT.replace("love", "lave"), encoding="utf-8")  # same size, other content
    tokenizer, tokens, seen = _tokenize(path, "bpe", bpe_vocab_size=300)
    assert TokenizeStage.ENCODE in {e.stage for e in seen}
    assert tokens.tolist() == tokenizer.encode(path.read_text()).ids
    assert len(_entries()) == 4


@pytest.mark.parametrize(
    "damage, warning",
    [
        ("truncate", "does not match its file; rebuilding it"),
        ("overwrite", "is damaged; rebuilding it"),  # the fingerprint differs
        ("meta", "is damaged (Expecting property name"),
        ("no-meta", None),  # the description is written last: an entry cut short, rebuilt quietly
    ],
)
def test_a_damaged_entry_is_rebuilt_never_used(tmp_path, damage, warning, caplog):
    path = _corpus(tmp_path)
    tokenizer, tokens, _ = _tokenize(path)
    good = tokens.tolist()
    del tokens
    [entry] = _entries()
    meta = entry.with_suffix(".json")
    if damage == "truncate":
        os.truncate(entry, entry.stat().st_size - 2)
    elif damage == "overwrite":
        with entry.open("r+b") as file:
            file.seek(10)
            file.write(b"\xff\xff")
    elif damage == "meta":
        meta.write_text("{not json")
    else:
        meta.unlink()
    _, tokens, seen = _tokenize(path)
    assert TokenizeStage.ENCODE in {e.stage for e in seen}
    assert tokens.tolist() == good
    if warning is None:
        assert "token cache entry" not in caplog.text
    else:
        assert warning in caplog.text


@pytest.mark.parametrize("kind, dtype", [("char", torch.uint16), ("word", torch.uint32)])
def test_ids_are_uint16_when_the_vocabulary_fits_else_uint32(tmp_path, kind, dtype):
    words = " ".join(f"w{i}" for i in range(70_000)) + "\n"  # 70,000 distinct words
    tokenizer, tokens, _ = _tokenize(_corpus(tmp_path, words), kind)
    assert tokens.dtype is dtype
    assert tokens[-5:].tolist() == tokenizer.encode(words[-40:]).ids[-5:]


def test_the_split_keeps_its_meaning_and_batches_read_the_map(tmp_path):
    path = _corpus(tmp_path)
    config = DataConfig(corpus=str(path), tokenizer="char", val_fraction=0.2)
    tokenizer, data, _ = load_dataset(config, block_size=8)
    ids = tokenizer.encode(TEXT).ids
    n_val = int(len(ids) * 0.2)
    assert data.val.tolist() == ids[-n_val:] and data.train.tolist() == ids[:-n_val]
    x, y = data.batch("train", 4, 8, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert x.dtype == torch.long and x.shape == (4, 8) and torch.equal(x[:, 1:], y[:, :-1])


def test_progress_counts_up_to_the_corpus_size_and_keeps_the_run_starting(tmp_path):
    path = _corpus(tmp_path, TEXT * 50)
    _, _, seen = _tokenize(path)
    size = path.stat().st_size
    for stage in READS:
        done = [e.done_bytes for e in seen if e.stage is stage]
        assert done == sorted(done) and done[-1] == size
    assert all(e.total_bytes == size and e.elapsed_s >= 0 for e in seen)
    state = RunState.STARTING
    for event in seen:
        state = advance(state, event)
    assert state is RunState.STARTING


# -- through the worker: it listens before it tokenises a big corpus ------------------------------


def _follow(client, seen: list, until) -> threading.Thread:
    def read() -> None:
        for event in client.events():
            seen.append(event)
            if until(event):
                return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _wait(predicate, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_worker_answers_and_shows_progress_before_its_trainer_exists(corpus, tmp_path):
    gate = threading.Event()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = tiny_config(corpus, "char", max_steps=3, eval_every=3)

    def build(progress) -> Trainer:
        progress(TokenizeProgress(TokenizeStage.ENCODE, 5, 10, 0.5))
        gate.wait(30)
        return Trainer.create(config, run_dir, progress)

    worker = Worker(Preparation(run_dir, config, build), detached=True, idle=False)
    serving = threading.Thread(target=worker.run, daemon=True)
    serving.start()
    seen: list = []
    with EngineClient(run_dir) as client:
        _follow(client, seen, lambda e: isinstance(e, TrainingFinished))
        _wait(lambda: any(isinstance(e, TokenizeProgress) for e in seen))
        assert client.status().state is RunState.STARTING
        with pytest.raises(EngineError, match="still reading its corpus"):
            client.attention("oh")
        gate.set()
        _wait(lambda: any(isinstance(e, TrainingFinished) for e in seen))
        assert client.status().state is RunState.FINISHED
    worker.signalled = True  # what SIGTERM does
    serving.join(PATIENCE_S)
    assert not serving.is_alive()
    first = next(i for i, e in enumerate(seen) if isinstance(e, TrainingStarted))
    before = [e for e in seen[:first] if not isinstance(e, WIRE_ONLY)]  # the replay's own word
    assert before and all(isinstance(e, TokenizeProgress) for e in before)
    state = RunState.STARTING
    for event in seen[:first]:
        state = advance(state, event)
    assert state is RunState.STARTING


def test_a_big_corpus_trains_through_a_worker_that_listened_first(
    corpus, tmp_path, workers, monkeypatch
):
    monkeypatch.setenv("LLM_LEARNS_SYNC_CORPUS_BYTES", "0")  # every corpus counts as big
    seen: list = []
    with EngineClient.start(tiny_config(corpus, "bpe", max_steps=4), tmp_path / "run") as client:
        workers.append(client.pid)
        _follow(client, seen, lambda e: isinstance(e, (TrainingFinished, EngineFailed))).join(
            PATIENCE_S
        )
    assert isinstance(seen[-1], TrainingFinished) and seen[-1].step == 4
    assert (tmp_path / "run" / "config.json").exists()


def test_a_bad_big_corpus_fails_through_the_event_stream(tmp_path, workers, monkeypatch):
    monkeypatch.setenv("LLM_LEARNS_SYNC_CORPUS_BYTES", "0")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine text\n" * 100 + b"\xff\xfe not text\n")
    try:  # the worker listens first, so the error may come as it connects or as an event
        client = EngineClient.start(tiny_config(bad), tmp_path / "run")
    except EngineError as error:
        message = str(error)
    else:
        with client:
            workers.append(client.pid)
            # Even once the worker has ended, before any stream began, a stream says why.
            assert client._process.wait(PATIENCE_S) == 2
            seen = list(client.events())
        assert len(seen) == 1 and isinstance(seen[0], EngineFailed) and seen[0].exit_code == 2
        message = seen[0].reason
    assert "is not UTF-8 text (bad byte at offset 1000)" in message
    assert not (tmp_path / "run" / "config.json").exists()


# -- in the app: a progress bar with an ETA, and keys that answer meanwhile ------------------------


async def test_the_header_shows_tokenising_progress_and_keys_still_answer():
    from textual.widgets import ContentSwitcher, ProgressBar, Static

    from tests.tui_fakes import FakeEngine
    from tests.tui_helpers import make_app, settle
    from tui.widgets.shell.run_header import RunHeader

    megabyte = 1_000_000
    progress = TokenizeProgress(TokenizeStage.ENCODE, 250 * megabyte, 1000 * megabyte, 10.0)
    app, fake = make_app(FakeEngine([progress]))
    async with app.run_test(size=(120, 40)) as pilot:
        header = app.query_one(RunHeader)
        await settle(pilot, lambda: header.tokenizing is not None)
        assert header.word == "starting"
        text = {name: str(header.query_one(f"#run-{name}", Static).render()) for name in (
            "step", "percent", "rate")}  # fmt: skip
        assert text == {
            "step": TokenizeStage.ENCODE.label, "percent": " 25%", "rate": "ETA 0:30  25.0 MB/s"
        }  # fmt: skip
        bar = header.query_one(ProgressBar)
        assert (bar.total, bar.progress) == (1000 * megabyte, 250 * megabyte)
        await pilot.press("2")
        await settle(pilot, lambda: app.query_one(ContentSwitcher).current == "attention")
        assert app.query_one(ContentSwitcher).current == "attention"


@pytest.mark.parametrize("stage", [TokenizeStage.WAIT, TokenizeStage.MERGE])
async def test_a_pass_with_no_bytes_to_count_shows_its_time_not_a_percentage(stage):
    from textual.widgets import ProgressBar, Static

    from tests.tui_fakes import FakeEngine
    from tests.tui_helpers import make_app, settle
    from tui.widgets.shell.run_header import RunHeader

    app, fake = make_app(FakeEngine([TokenizeProgress(stage, 0, 0, 75.0)]))
    async with app.run_test(size=(120, 40)) as pilot:
        header = app.query_one(RunHeader)
        await settle(pilot, lambda: header.tokenizing is not None)
        text = {name: str(header.query_one(f"#run-{name}", Static).render()) for name in (
            "step", "percent", "rate")}  # fmt: skip
        assert text == {"step": stage.label, "percent": "", "rate": "1:15"}
        assert header.query_one(ProgressBar).total is None  # under way, with no end to show


def test_a_resumed_run_reuses_the_cache(corpus, tmp_path):
    run_dir = tmp_path / "run"
    trainer = Trainer.create(tiny_config(corpus, "bpe", max_steps=2, eval_every=2), run_dir)
    list(trainer.events())
    trainer.close()
    seen: list[TokenizeProgress] = []
    again = Trainer.resume(run_dir, {"train": {"max_steps": 4}}, progress=seen.append)
    assert {e.stage for e in seen} == {TokenizeStage.HASH}
    assert torch.equal(again.data.val, trainer.data.val) and again.step == 2


def test_batches_let_go_of_the_pages_they_read(tmp_path, monkeypatch):
    from engine.data.token_cache import RELEASE_WINDOWS

    advised: list[str] = []
    monkeypatch.setattr(
        "engine.data.token_cache._advise", lambda mapped, name: advised.append(name)
    )
    _, data, _ = load_dataset(DataConfig(corpus=str(_corpus(tmp_path)), tokenizer="char"), 8)
    rng, cpu = torch.Generator().manual_seed(0), torch.device("cpu")
    for i in range(RELEASE_WINDOWS):  # 2 windows a batch: two releases
        data.batch("train" if i % 2 else "val", 2, 8, rng, cpu)  # both splits share one map
    assert advised == ["MADV_RANDOM", "MADV_DONTNEED", "MADV_DONTNEED"]


def test_headless_output_says_each_pass_with_its_eta():
    import io

    from engine.cli.progress import ProgressPrinter

    out = io.StringIO()
    printer = ProgressPrinter(out=out)
    for stage in READS:
        for done in (250, 260):  # the second is too soon after the first to print
            printer.show(TokenizeProgress(stage, done * 1_000_000, 1_000_000_000, 10.0))
    printer.show(TokenizeProgress(TokenizeStage.MERGE, 0, 0, 0.0))
    printer.show(TokenizeProgress(TokenizeStage.MERGE, 0, 0, 0.3))  # too soon again
    assert out.getvalue().splitlines() == [
        f"{words}: 25% of 1,000 MB | 25.0 MB/s | ETA 00:00:30"
        for words in ("reading the corpus", "learning the vocabulary", "tokenizing the corpus")
    ] + ["learning the BPE merges: 00:00:00 so far"]


def test_a_corpus_that_changes_while_it_is_tokenised_is_refused_and_not_cached(tmp_path):
    from engine import CorpusError

    path = _corpus(tmp_path)

    def edit_midway(event: TokenizeProgress) -> None:
        if event.stage is TokenizeStage.ENCODE and event.done_bytes == 0:
            path.write_text(TEXT + "more\n", encoding="utf-8")

    config = DataConfig(corpus=str(path), tokenizer="char")
    with pytest.raises(CorpusError, match="changed while it was being tokenised"):
        tokenize(config, path, progress=edit_midway)
    assert _entries() == [] and not list(cache_dir().glob(".*tmp"))


def test_stopping_while_it_tokenises_ends_the_worker_and_the_tokenising(corpus, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = tiny_config(corpus, "char")
    stopped = threading.Event()

    def build(progress) -> Trainer:
        try:
            while True:  # a tokeniser that reports and never ends on its own
                progress(TokenizeProgress(TokenizeStage.ENCODE, 5, 10, 0.5))
                time.sleep(0.01)
        finally:
            stopped.set()

    worker = Worker(Preparation(run_dir, config, build), detached=True, idle=False)
    codes: list[int] = []
    serving = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    serving.start()
    seen: list = []
    with EngineClient(run_dir) as client:
        _follow(client, seen, lambda e: isinstance(e, TrainingFinished))
        _wait(lambda: any(isinstance(e, TokenizeProgress) for e in seen))  # subscribed
        client.stop()
        _wait(lambda: any(isinstance(e, TrainingFinished) for e in seen))
    serving.join(PATIENCE_S)
    assert codes == [0] and stopped.is_set()
    assert seen[-1] == TrainingFinished(FinishReason.STOPPED, 0)
    assert not (run_dir / "config.json").exists()


# -- faults and concurrency: locks, leftovers, an unwritable folder, BPE's merges ----------------


def test_two_runs_on_one_new_corpus_tokenise_it_once(tmp_path):
    """The second waits for the first one's entry (and says so) instead of making its own."""
    path = _corpus(tmp_path, TEXT * 20)
    first_seen: list[TokenizeProgress] = []
    second_seen: list[TokenizeProgress] = []
    config = DataConfig(corpus=str(path), tokenizer="bpe", bpe_vocab_size=300)
    results: dict[str, object] = {}

    def first_progress(event: TokenizeProgress) -> None:
        first_seen.append(event)
        if event.stage is TokenizeStage.ENCODE and event.done_bytes == 0:
            _wait(lambda: any(e.stage is TokenizeStage.WAIT for e in second_seen))

    def run(name: str, progress) -> None:
        results[name] = tokenize(config, path, progress=progress)

    first = threading.Thread(target=run, args=("first", first_progress))
    first.start()
    _wait(lambda: any(e.stage is TokenizeStage.ENCODE for e in first_seen))
    second = threading.Thread(target=run, args=("second", second_seen.append))
    second.start()
    first.join(PATIENCE_S)
    second.join(PATIENCE_S)
    (tokenizer_a, tokens_a), (tokenizer_b, tokens_b) = results["first"], results["second"]
    assert tokenizer_a.to_json() == tokenizer_b.to_json() and torch.equal(tokens_a, tokens_b)
    stages = {e.stage for e in second_seen}
    assert TokenizeStage.WAIT in stages and not stages & {TokenizeStage.VOCAB, TokenizeStage.ENCODE}
    assert (
        sorted(p.name for p in cache_dir().iterdir() if p.suffix == ".tokens")
        == [e.name for e in _entries()]
        and len(_entries()) == 1
    )
    assert not list(cache_dir().glob("*.lock")) and not list(cache_dir().glob(".*.tmp"))


def test_a_rank_that_does_not_build_waits_for_the_one_that_does(tmp_path):
    path = _corpus(tmp_path)
    config = DataConfig(corpus=str(path), tokenizer="char")
    waiting: list[TokenizeProgress] = []
    results: list = []
    follower = threading.Thread(
        target=lambda: results.append(tokenize(config, path, progress=waiting.append, build=False))
    )
    follower.start()
    _wait(lambda: len([e for e in waiting if e.stage is TokenizeStage.WAIT]) >= 3)
    assert _entries() == [] and follower.is_alive()  # it waits, and makes nothing itself
    _, tokens = tokenize(config, path)
    follower.join(PATIENCE_S)
    assert torch.equal(results[0][1], tokens)
    assert {e.stage for e in waiting} == {TokenizeStage.HASH, TokenizeStage.WAIT}


def test_bpe_reports_its_merges_as_a_pass_of_their_own(tmp_path):
    _, _, seen = _tokenize(_corpus(tmp_path), "bpe", bpe_vocab_size=300)
    order = [stage for stage, _ in itertools.groupby(e.stage for e in seen)]
    assert order == [TokenizeStage.HASH, TokenizeStage.VOCAB, TokenizeStage.MERGE,
                     TokenizeStage.ENCODE]  # fmt: skip
    merges = [e for e in seen if e.stage is TokenizeStage.MERGE]
    assert all(e.total_bytes == 0 and e.elapsed_s >= 0 for e in merges)
    vocab = [e for e in seen if e.stage is TokenizeStage.VOCAB]
    assert vocab[-1].done_bytes == vocab[-1].total_bytes  # reading ended before the merges


KILL_MID_WRITE = """
import os, signal, sys
from pathlib import Path
from engine.contract.config import DataConfig
from engine.data.token_cache import tokenize

def progress(event):
    if event.stage.value == "encode" and event.done_bytes > 0:  # tokens written, not renamed
        os.kill(os.getpid(), signal.SIGKILL)

path = Path(sys.argv[1])
tokenize(DataConfig(corpus=str(path), tokenizer="char"), path, progress=progress)
"""


def test_a_build_killed_mid_write_leaves_nothing_the_next_one_keeps(tmp_path):
    path = _corpus(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    killed = subprocess.run(
        [sys.executable, "-c", KILL_MID_WRITE, str(path)], env=env, timeout=PATIENCE_S
    )
    assert killed.returncode == -signal.SIGKILL
    [temp] = cache_dir().glob(".*.tokens.*.tmp")  # what SIGKILL left: a temp file, no entry
    assert temp.stat().st_size > 0 and _entries() == []
    tokenizer, tokens, seen = _tokenize(path)
    assert not list(cache_dir().glob(".*.tmp")) and not list(cache_dir().glob("*.lock"))
    assert tokens.tolist() == tokenizer.encode(TEXT).ids and len(_entries()) == 1


def test_an_unwritable_cache_folder_is_one_line_naming_it(tmp_path, corpus, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    config = DataConfig(corpus=str(corpus), tokenizer="char")
    with pytest.raises(WriteError) as error:
        tokenize(config, corpus)
    assert str(error.value) == (
        f"cannot write {blocker}/llm-learns/tokens: Not a directory "
        "(the token cache; XDG_CACHE_HOME moves it)"
    )
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--headless", "--corpus", str(corpus), "--steps", "2"],
        cwd=tmp_path, env={**os.environ, "XDG_CACHE_HOME": str(blocker),
                           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True, text=True, timeout=PATIENCE_S,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == f"llmlearns-tui: error: {error.value}\n"
    assert not (tmp_path / "runs").exists()


def test_a_corpus_edited_after_caching_is_tokenised_again_and_its_old_entry_kept(tmp_path):
    path = _corpus(tmp_path)
    _, before, _ = _tokenize(path)
    os.utime(path, (1, 1))  # touched, not changed: still a hit
    _, same, seen = _tokenize(path)
    assert {e.stage for e in seen} == {TokenizeStage.HASH} and torch.equal(same, before)
    path.write_text(TEXT + "a new last line\n", encoding="utf-8")
    tokenizer, after, seen = _tokenize(path)
    assert TokenizeStage.ENCODE in {e.stage for e in seen}
    assert after.tolist() == tokenizer.encode(TEXT + "a new last line\n").ids
    assert len(_entries()) == 2


# Loaded by a worker's interpreter at start-up (sitecustomize on its PYTHONPATH): its tokenising
# writes the first chunk's tokens, says so in a file, and hangs there, to be killed mid-write.
HANG_MID_WRITE = """
import os, time
if os.environ.get("HANG_MID_WRITE"):
    import engine.data.token_cache as token_cache
    real = token_cache.encode_stream
    def hanging(tokenizer, chunks):
        for ids in real(tokenizer, chunks):
            yield ids
            open(os.environ["HANG_MID_WRITE"], "w").close()
            time.sleep(3600)
    token_cache.encode_stream = hanging
"""


def test_a_worker_killed_while_tokenising_fails_and_the_next_run_trains(
    corpus, tmp_path, workers, monkeypatch
):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(HANG_MID_WRITE)
    signal_file = tmp_path / "hanging"
    monkeypatch.setenv("LLM_LEARNS_SYNC_CORPUS_BYTES", "0")  # it listens, then tokenises
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    monkeypatch.setenv("HANG_MID_WRITE", str(signal_file))
    config = tiny_config(corpus, "char", max_steps=3, eval_every=3)
    seen: list = []
    with EngineClient.start(config, tmp_path / "first") as client:
        workers.append(client.pid)
        follower = _follow(client, seen, lambda e: isinstance(e, EngineFailed))
        _wait(signal_file.exists)
        _wait(lambda: any(isinstance(e, TokenizeProgress) for e in seen))
        assert list(cache_dir().glob(".*.tokens.*.tmp"))  # killed mid-write, for real
        os.kill(client.pid, signal.SIGKILL)
        follower.join(PATIENCE_S)
    assert isinstance(seen[-1], EngineFailed) and "SIGKILL" in seen[-1].reason
    assert not (tmp_path / "first" / "config.json").exists()  # nothing trained, nothing kept
    monkeypatch.delenv("HANG_MID_WRITE")
    seen.clear()
    with EngineClient.start(config, tmp_path / "second") as client:
        workers.append(client.pid)
        _follow(client, seen, lambda e: isinstance(e, (TrainingFinished, EngineFailed))).join(
            PATIENCE_S
        )
    assert isinstance(seen[-1], TrainingFinished) and seen[-1].step == 3
    assert not list(cache_dir().glob(".*.tmp")) and len(_entries()) == 1


# -- `llmlearns-tui cache`: list and clear ---------------------------------------------------------


def _cache_command(*argv: str, capsys) -> tuple[int, list[str]]:
    from engine.cli import parse_args, run_command

    code = run_command(parse_args(["cache", *argv]))
    return code, capsys.readouterr().out.splitlines()


def test_the_cache_command_lists_each_entry_and_clears_them(tmp_path, capsys):
    from engine.data.cache_store import try_lock

    code, lines = _cache_command(capsys=capsys)
    assert code == 0 and lines == [f"the token cache is empty ({cache_dir()})"]
    path = _corpus(tmp_path, name="songs\x1b[2J.txt")  # a name that is no terminal command
    _tokenize(path, "word")
    (cache_dir() / ".abc-def.tokens.x1y2.tmp").write_bytes(b"\0" * 10)  # a killed build's
    code, lines = _cache_command(capsys=capsys)
    assert code == 0 and lines[0].split()[:4] == ["CORPUS", "HOLDS", "TOKENIZER", "TOKENS"]
    tokens, vocabulary, unfinished = (
        next(line for line in lines if line.split()[1:2] == [holds] and (mark in line))
        for holds, mark in (("tokens", "song"), ("vocabulary", ""), ("tokens", "unfinished"))
    )
    count = len(WordTokenizer.train([TEXT]).encode(TEXT).ids)
    assert tokens.split()[2:4] == ["word", f"{count:,}"] and vocabulary.split()[2] == "word"
    for row in (tokens, vocabulary):  # the corpus each came from, shown visibly
        assert row.endswith(f"{tmp_path}/songs␛[2J.txt") and "\x1b" not in row
    assert unfinished.split()[0] == "abc" and unfinished.endswith("?")
    assert lines[-2].startswith("3 entries, ")
    assert lines[-1] == "remove them all: llmlearns-tui cache --clear"
    held = try_lock("abc-def")  # as a build in another process holds it
    try:
        code, lines = _cache_command("--clear", capsys=capsys)
    finally:
        os.close(held)
    assert code == 0 and lines[0].startswith("removed 2 entries (")
    assert lines[1] == "kept 1 being written now: abc-def"
    assert _cache_command("--clear", capsys=capsys)[1][0].startswith("removed 1 entry (")
    assert list(cache_dir().iterdir()) == []
    _, _, seen = _tokenize(path, "word")  # a run after a clear simply tokenises again
    assert TokenizeStage.ENCODE in {e.stage for e in seen}


def test_the_cache_command_in_a_cache_that_cannot_be_read(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert _cache_command(capsys=capsys) == (0, [f"the token cache is empty ({cache_dir()})"])
    assert _cache_command("--clear", capsys=capsys)[1] == [
        f"removed 0 entries (0 B) from {cache_dir()}"
    ]
