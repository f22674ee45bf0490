"""Corpus files: checked reading in chunks, so a 100 MB file is never held as several copies.

Tokenizers train on and encode the chunk stream; the tokens end up in one compact int32 tensor.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from engine.contract.config import DEFAULT_CORPUS
from engine.contract.errors import CorpusError

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


def read_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    r"""Yield the file's text in chunks that end at a line break where one exists.

    Line ends are normalised: CRLF and a lone CR become \n, so no \r ever becomes a token.
    Raises CorpusError naming the byte offset if the file is not UTF-8 or holds a NUL byte, and,
    once it has all been read, if it holds nothing but whitespace.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    carry = ""
    offset = 0
    has_text = False
    try:
        with path.open("rb") as file:
            while raw := file.read(chunk_bytes):
                # NUL is refused: it means a binary file (or UTF-16), never a text to learn.
                # Other control characters (form feeds, escape sequences) can be real text, so
                # they are kept, and engine.contract.display shows them visibly wherever they
                # appear.
                nul = raw.find(b"\0")
                try:
                    text = carry + decoder.decode(raw)
                except UnicodeDecodeError as error:
                    if 0 <= nul < error.start:
                        raise _nul_error(path, offset + nul) from None
                    bad = offset + error.start
                    raise CorpusError(
                        f"corpus {path} is not UTF-8 text (bad byte at offset {bad})"
                    ) from None
                if nul >= 0:
                    raise _nul_error(path, offset + nul)
                offset += len(raw)
                lines, carry = _whole_lines(text)
                if lines:
                    has_text = has_text or not lines.isspace()
                    yield lines
            try:
                carry += decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise CorpusError(
                    f"corpus {path} is not UTF-8 text (it ends mid-character)"
                ) from None
    except OSError as error:
        raise CorpusError(f"corpus {path} cannot be read: {error.strerror}") from None
    carry = carry.replace("\r\n", "\n").replace("\r", "\n")
    if carry:
        has_text = has_text or not carry.isspace()
        yield carry
    if not has_text:
        raise CorpusError(f"corpus {path} has no text, only whitespace")


def _whole_lines(text: str) -> tuple[str, str]:
    r"""Split text, line ends normalised, into whole lines and what follows the last line break.

    A trailing \r is held back with the rest: the next chunk may begin with its \n.
    """
    held = ""
    if text.endswith("\r"):
        text, held = text[:-1], "\r"
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    cut = text.rfind("\n") + 1
    return text[:cut], text[cut:] + held


def _nul_error(path: Path, offset: int) -> CorpusError:
    return CorpusError(
        f"corpus {path} holds a NUL byte (\\x00) at offset {offset}: it looks like a binary "
        "file, not UTF-8 text"
    )


def first_line(corpus: Path) -> str:
    """The corpus's first non-blank line: the default attention probe."""
    for chunk in read_chunks(corpus):
        for line in chunk.splitlines():
            if line.strip():
                return line.strip()
    return ""
