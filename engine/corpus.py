"""Corpus files: checked reading in chunks, so a 100 MB file is never held as several copies.

Tokenizers train on and encode the chunk stream; the tokens end up in one compact int32 tensor.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from engine.errors import CorpusError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_CORPUS = DATA_DIR / "love_songs.txt"
CHUNK_BYTES = 1 << 22  # 4 MiB: big enough for fast tokenizing, small next to the token tensor


def resolve_corpus(path: str | Path | None) -> Path:
    """The corpus to use (the given path or the bundled default), checked to be a readable file."""
    corpus = Path(path).expanduser() if path else DEFAULT_CORPUS
    if not corpus.exists():
        raise CorpusError(f"corpus {corpus} does not exist")
    if not corpus.is_file():
        raise CorpusError(f"corpus {corpus} is not a file")
    try:
        size = corpus.stat().st_size
        with corpus.open("rb"):
            pass
    except OSError as error:
        raise CorpusError(f"corpus {corpus} cannot be read: {error.strerror}") from None
    if size == 0:
        raise CorpusError(f"corpus {corpus} is empty")
    return corpus


def read_chunks(path: Path) -> Iterator[str]:
    """Yield the file's text in chunks that end at a line break where one exists.

    Raises CorpusError naming the byte offset if the file is not valid UTF-8.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    carry = ""
    offset = 0
    try:
        with path.open("rb") as file:
            while raw := file.read(CHUNK_BYTES):
                try:
                    text = carry + decoder.decode(raw)
                except UnicodeDecodeError as error:
                    bad = offset + error.start
                    raise CorpusError(
                        f"corpus {path} is not UTF-8 text (bad byte at offset {bad})"
                    ) from None
                offset += len(raw)
                cut = text.rfind("\n") + 1
                if cut:
                    carry = text[cut:]
                    yield text[:cut]
                else:
                    carry = text
            try:
                carry += decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise CorpusError(
                    f"corpus {path} is not UTF-8 text (it ends mid-character)"
                ) from None
    except OSError as error:
        raise CorpusError(f"corpus {path} cannot be read: {error.strerror}") from None
    if carry:
        yield carry
