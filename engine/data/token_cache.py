"""The token cache: a corpus is tokenised once, streaming, into a file that batches memory-map, so a
corpus bigger than memory trains, and a second run (or a resumed one) on it starts at once.

Entries live in $XDG_CACHE_HOME/llm-learns/tokens (else ~/.cache/llm-learns/tokens), named by the
corpus's content hash and the tokenizer:
    <corpus>-<recipe>.tokenizer.json  the tokenizer a new run trains on that corpus (kind, settings)
    <corpus>-<tokenizer>.tokens       its token ids, raw uint16 (uint32 past 65,536 tokens)
    <corpus>-<tokenizer>.json         their dtype, count and a fingerprint, written last: an entry
                                      without it, or that does not match it, is rebuilt, never used
Every file is owner-only, written under a temp name and renamed into place, by the one process
holding the entry's lock (cache_store.py): a second run on the same new corpus waits for the first
one's tokens, and so do the other ranks of a torchrun (build=False) while one rank per machine
makes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from engine.contract.config import DataConfig
from engine.contract.errors import CorpusError, EngineError, WriteError
from engine.contract.events import TokenizeProgress, TokenizeStage
from engine.data.cache_store import LOCK_POLL_S, cache_dir, entry_lock
from engine.data.corpus import CHUNK_BYTES, read_chunks
from engine.data.tokenizer import (
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    tokenizer_from_json,
)
from engine.runs.files import atomic_write, atomic_write_text

FORMAT = 1  # bump whenever the same corpus and tokenizer would tokenise differently
PIECE_CHARS = 1 << 18  # BPE encodes a chunk as pieces of about this size, in parallel
WHOLE_FINGERPRINT = 1 << 26  # token files up to 64 MiB are hashed whole; bigger ones are sampled
SAMPLE_BLOCK, SAMPLE_BLOCKS = 1 << 16, 256
# Windows read between releases of a map's pages. A fault maps a whole page-cache folio (up to
# 2 MiB on recent kernels), so this bounds the map's share of RSS to a few hundred MiB; each
# release costs about 5 us a window read since the last (measured on a 400 MB file).
RELEASE_WINDOWS = 128
_MAPS: weakref.WeakValueDictionary[int, mmap.mmap] = weakref.WeakValueDictionary()
_reads: dict[int, int] = {}
DTYPES = {"uint16": (np.uint16, torch.uint16), "uint32": (np.uint32, torch.uint32)}
# Where every tokenizer here can cut text into pieces that tokenise alone exactly as in place: after
# a letter or digit that a space or line break follows, or after a line break between two
# non-spaces (for text whose lines end in punctuation, or that has no spaces). Word and BPE
# pre-tokenizers (GPT-2's pattern) end a token there whatever comes next, and start the next one
# there whatever came before. Any line break is not enough: BPE reads "\n\n" or " \n" at the
# end of a piece as one token, and as two within the text.
_CUT = re.compile(r"[^\W_](?=[ \n])|(?<=\S\n)(?=\S)")
log = logging.getLogger(__name__)

TICK_S = 0.25  # how often a pass that has no byte count says how long it has taken
Progress = Callable[[TokenizeProgress], None]


class Reporter:
    """Turns byte counts into TokenizeProgress for one stage (or nothing, without a callback).
    A stage with no byte count (total 0: waiting, BPE's merges) reports only its elapsed time."""

    def __init__(self, progress: Progress | None, stage: TokenizeStage, total_bytes: int):
        self.progress, self.stage, self.total = progress, stage, total_bytes
        self.started = time.monotonic()

    def __call__(self, done_bytes: int) -> None:
        if self.progress is not None:
            elapsed = time.monotonic() - self.started
            self.progress(
                TokenizeProgress(self.stage, min(done_bytes, self.total), self.total, elapsed)
            )


def tokenize(
    config: DataConfig,
    path: Path,
    tokenizer: Tokenizer | None = None,
    progress: Progress | None = None,
    build: bool = True,
) -> tuple[Tokenizer, torch.Tensor]:
    """The corpus's tokenizer (trained, unless given) and its tokens as a memory-mapped 1-D tensor.

    Both come from the cache when it holds them; else they are made and cached, or, with
    build=False, waited for until another process has cached them. Raises CorpusError for an
    unreadable corpus and WriteError when the cache cannot be written.
    """
    stamp = _stamp(path)  # what the digest describes: tokenising checks the file still matches
    digest = corpus_digest(path, Reporter(progress, TokenizeStage.HASH, _size(path)))
    try:
        if tokenizer is None:
            tokenizer = cached_tokenizer(config, path, digest, progress, stamp, build)
        return tokenizer, cached_tokens(tokenizer, path, digest, progress, stamp, build)
    except WriteError as error:
        raise WriteError(f"{error} (the token cache; XDG_CACHE_HOME moves it)") from None


def corpus_digest(path: Path, report: Reporter | None = None) -> str:
    """The corpus file's SHA-256 (the first 32 hex digits), read in chunks."""
    digest, done = hashlib.sha256(), 0
    with path.open("rb") as file:
        while block := file.read(CHUNK_BYTES):
            digest.update(block)
            done += len(block)
            if report:
                report(done)
    return digest.hexdigest()[:32]


def cached_tokenizer(
    config: DataConfig,
    path: Path,
    digest: str,
    progress: Progress | None = None,
    stamp: tuple | None = None,
    build: bool = True,
) -> Tokenizer:
    """The tokenizer a new run learns from this corpus: from the cache, else learned and cached."""
    recipe = f"bpe{config.bpe_vocab_size}" if config.tokenizer == "bpe" else config.tokenizer
    entry = f"{digest}-{recipe}-v{FORMAT}.tokenizer"
    cached = cache_dir() / f"{entry}.json"

    def learn() -> Tokenizer:
        texts = _pieces(_counted(path, Reporter(progress, TokenizeStage.VOCAB, _size(path)), stamp))
        if config.tokenizer == "word":
            return WordTokenizer.train(texts)
        if config.tokenizer == "char":
            return CharTokenizer.train(texts)
        # Once the corpus is read, `tokenizers` merges pairs in Rust, saying nothing until done.
        merging = _Ticking(Reporter(progress, TokenizeStage.MERGE, 0))
        try:
            return BPETokenizer.train(merging.after(texts), config.bpe_vocab_size)
        finally:
            merging.stop()

    def write(tokenizer: Tokenizer) -> None:
        atomic_write_text(cached, tokenizer.to_json())

    return _through_cache(entry, lambda: _read_tokenizer(cached), learn, write, progress, build)


def _read_tokenizer(cached: Path) -> Tokenizer | None:
    try:
        return tokenizer_from_json(cached.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except Exception as error:  # a damaged file (tokenizers raises its own kind): learn again
        log.warning("warning: %s is damaged (%s); learning the vocabulary again", cached, error)
        return None


def _through_cache(entry, read, make, write, progress: Progress | None, build: bool):
    """read() the entry; if it is not there, make() and write() it holding its lock, unless
    another process does (build=False: wait for it). Waiting is reported as its own stage."""
    found = read()
    if found is not None:
        return found
    waited = Reporter(progress, TokenizeStage.WAIT, 0)
    while True:
        with entry_lock(entry, waiting=lambda: waited(0)):
            found = read()  # made while we waited
            if found is not None:
                return found
            if build:
                made = make()
                write(made)
                return made
        waited(0)  # another process has yet to start making it
        time.sleep(LOCK_POLL_S)


class _Ticking:
    """Reports a stage's elapsed time every TICK_S from a thread, once an iterable is used up."""

    def __init__(self, report: Reporter):
        self.report = report
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="tick", daemon=True)

    def after(self, items: Iterable) -> Iterator:
        yield from items
        self.report.started = time.monotonic()
        self._thread.start()

    def _tick(self) -> None:
        while not self._done.is_set():
            try:
                self.report(0)
            except Exception:  # a cancelled preparation: nobody is listening any more
                return
            self._done.wait(TICK_S)

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()


def cached_tokens(
    tokenizer: Tokenizer,
    path: Path,
    digest: str,
    progress: Progress | None = None,
    stamp: tuple | None = None,
    build: bool = True,
) -> torch.Tensor:
    """The corpus's token ids under this tokenizer, memory-mapped from the cache (built first if
    the cache lacks them)."""
    key = hashlib.sha256(tokenizer.to_json().encode()).hexdigest()[:16]
    stem = cache_dir() / f"{digest}-{key}"
    meta = {"format": FORMAT, "corpus": digest, "tokenizer": key}
    tokens_path = stem.with_suffix(".tokens")
    name = "uint16" if tokenizer.vocab_size <= 1 << 16 else "uint32"
    dtype = DTYPES[name][0]

    def make() -> dict:
        count = 0

        def write(temp: str) -> None:
            nonlocal count
            with open(temp, "wb") as file:
                report = Reporter(progress, TokenizeStage.ENCODE, _size(path))
                for ids in encode_stream(tokenizer, _counted(path, report, stamp)):
                    ids.astype(dtype, copy=False).tofile(file)
                    count += len(ids)

        atomic_write(tokens_path, write)
        size = count * np.dtype(dtype).itemsize
        # What the entry is, for `llmlearns-tui cache`; only `meta`'s own keys decide a match.
        about = {"kind": tokenizer.kind, "vocab_size": tokenizer.vocab_size, "source": str(path)}
        return meta | about | {"dtype": name, "count": count, "fingerprint": _fingerprint(
            tokens_path, size)}  # fmt: skip

    def describe(described: dict) -> None:
        atomic_write_text(stem.with_suffix(".json"), json.dumps(described))

    def read() -> torch.Tensor | None:
        return open_tokens(stem, meta)

    made = _through_cache(stem.name, read, make, describe, progress, build)
    if isinstance(made, torch.Tensor):
        return made
    tokens = open_tokens(stem, meta)
    if tokens is None:  # changed under us between writing and reading: nothing safe to use
        raise EngineError(f"the token cache entry {tokens_path} could not be read back")
    return tokens


def open_tokens(stem: Path, expect: dict) -> torch.Tensor | None:
    """The entry's tokens, memory-mapped, if its description matches `expect` and its file; else
    None (a damaged or partly written entry is never used)."""
    meta_path, tokens_path = stem.with_suffix(".json"), stem.with_suffix(".tokens")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        dtype = DTYPES[meta["dtype"]]
        count = int(meta["count"])
        size = tokens_path.stat().st_size
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("warning: token cache entry %s is damaged (%s); rebuilding it", stem, error)
        return None
    expected_size = count * np.dtype(dtype[0]).itemsize
    if any(meta.get(k) != v for k, v in expect.items()) or size != expected_size:
        log.warning("warning: token cache entry %s does not match its file; rebuilding it", stem)
        return None
    if meta.get("fingerprint") != _fingerprint(tokens_path, size):
        log.warning("warning: token cache entry %s is damaged; rebuilding it", stem)
        return None
    with contextlib.suppress(OSError):  # when it was last used, for `llmlearns-tui cache`
        os.utime(meta_path)
    if count == 0:
        return torch.zeros(0, dtype=dtype[1])
    # Copy-on-write (never written): pages load as batches touch them, never the whole file.
    with tokens_path.open("rb") as file:
        mapped = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY)
    _advise(mapped, "MADV_RANDOM")  # batches read at random: no read-ahead
    tokens = torch.frombuffer(mapped, dtype=dtype[1])  # holds `mapped` alive
    _MAPS[tokens.untyped_storage().data_ptr()] = mapped
    return tokens


def note_read(tokens: torch.Tensor, windows: int) -> None:
    """Count windows read from `tokens`; every RELEASE_WINDOWS, let go of the pages read so far.

    Pages a map has touched count in the process's RSS until it unmaps them (nanoGPT re-creates
    its np.memmap each batch for this: https://stackoverflow.com/a/61472122), so on a long run the
    worker would seem to hold the whole token file. MADV_DONTNEED drops them from this process
    (they stay in the page cache, and nothing was written, so nothing is lost).
    """
    key = tokens.untyped_storage().data_ptr()
    mapped = _MAPS.get(key)
    if mapped is None:
        return
    _reads[key] = _reads.get(key, 0) + windows
    if _reads[key] >= RELEASE_WINDOWS:
        _reads[key] = 0
        _advise(mapped, "MADV_DONTNEED")


def _advise(mapped: mmap.mmap, name: str) -> None:
    advice = getattr(mmap, name, None)
    if advice is not None:  # a platform without it just keeps the pages
        with contextlib.suppress(OSError):
            mapped.madvise(advice)


def encode_stream(tokenizer: Tokenizer, chunks: Iterable[str]) -> Iterator[np.ndarray]:
    """Token ids of a stream of text chunks, an int array per chunk: the same ids as encoding the
    whole text at once, wherever the chunks were cut (see _CUT)."""
    fast = getattr(tokenizer, "hf", None)
    for texts in _pieces(chunks, grouped=True):
        if isinstance(tokenizer, BPETokenizer) and fast is not None:
            encode = getattr(fast, "encode_batch_fast", fast.encode_batch)  # no offsets: faster
            encodings = encode(texts, add_special_tokens=False)
            ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
            yield np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        else:
            yield tokenizer.encode_corpus(texts).numpy()


def _pieces(chunks: Iterable[str], grouped: bool = False) -> Iterator:
    """Re-cut chunks at safe places (_CUT), about PIECE_CHARS apart: each piece (or, grouped, each
    chunk's list of pieces) tokenises alone exactly as it does within the whole text."""
    carry = ""
    for chunk in chunks:
        text = carry + chunk if carry else chunk
        pieces, start = [], 0
        while len(text) - start > PIECE_CHARS:
            match = _CUT.search(text, start + PIECE_CHARS)
            if match is None:
                break
            pieces.append(text[start : match.end()])
            start = match.end()
        end = _last_cut(text, start)
        if end > start:
            pieces.append(text[start:end])
        carry = text[end:]
        if pieces:
            yield from ([pieces] if grouped else pieces)
    if carry:
        yield from ([[carry]] if grouped else [carry])


def _last_cut(text: str, start: int) -> int:
    """The last safe cut in text[start:] (or start if there is none)."""
    window = 1 << 12
    while True:
        begin = max(start, len(text) - window)
        ends = [match.end() for match in _CUT.finditer(text, begin)]
        if ends:
            return ends[-1]
        if begin == start:
            return start
        window <<= 4


def _counted(path: Path, report: Reporter, stamp: tuple | None = None) -> Iterator[str]:
    """read_chunks, reporting the bytes consumed as each chunk is done with; raises CorpusError
    at the end if the file no longer matches `stamp` (it changed while it was read)."""
    done = 0
    report(0)
    for chunk in read_chunks(path):
        yield chunk
        done += len(chunk.encode("utf-8"))  # about the file's bytes (line ends are normalised)
        report(done)
    if stamp is not None and _stamp(path) != stamp:
        raise CorpusError(f"corpus {path} changed while it was being tokenised; start again")
    report(report.total)


def _fingerprint(path: Path, size: int) -> str:
    """SHA-256 of the whole file when small, else of SAMPLE_BLOCKS blocks spread over it: a torn
    or overwritten file shows, without reading gigabytes before the first step."""
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as file:
        if size <= WHOLE_FINGERPRINT:
            while block := file.read(CHUNK_BYTES):
                digest.update(block)
        else:
            stride = (size - SAMPLE_BLOCK) // (SAMPLE_BLOCKS - 1)
            for i in range(SAMPLE_BLOCKS):
                file.seek(i * stride)
                digest.update(file.read(SAMPLE_BLOCK))
    return digest.hexdigest()


def _size(path: Path) -> int:
    return path.stat().st_size


def _stamp(path: Path) -> tuple:
    info = path.stat()
    return info.st_size, info.st_mtime_ns, info.st_ino
