"""Corpus files a user might hand over: whitespace, binary, control characters, old line ends."""

from __future__ import annotations

import pytest

from engine import ConfigError, CorpusError, DataConfig
from engine.contract.display import visible
from engine.data import corpus as corpus_module
from engine.data.corpus import read_chunks
from engine.data.dataset import load_dataset
from engine.data.tokenizer import CharTokenizer


def _write(tmp_path, data: bytes):
    path = tmp_path / "corpus.txt"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("tokenizer", ["word", "char", "bpe"])
def test_a_corpus_of_only_whitespace_is_refused(tmp_path, tokenizer):
    path = _write(tmp_path, b"  \n\n\t \r\n   \n" * 50)
    config = DataConfig(corpus=str(path), tokenizer=tokenizer, bpe_vocab_size=300)
    with pytest.raises(CorpusError, match="has no text, only whitespace$"):
        load_dataset(config, block_size=4)


def test_a_nul_byte_is_refused_with_its_offset_shown_as_an_escape(tmp_path):
    path = _write(tmp_path, b"oh my love\nyou sh\x00ine\n")
    with pytest.raises(CorpusError) as caught:
        list(read_chunks(path))
    message = str(caught.value)
    assert "NUL byte (\\x00) at offset 17" in message
    assert "\x00" not in message and message.isprintable()


def test_a_nul_before_bad_utf8_is_reported_as_nul(tmp_path):
    path = _write(tmp_path, b"ab\x00cd\xff\n")
    with pytest.raises(CorpusError, match="NUL byte .* at offset 2"):
        list(read_chunks(path))


def test_other_control_characters_are_kept_and_shown_visibly(tmp_path):
    path = _write(tmp_path, b"page one\x0cpage two \x1b[2J\n")
    text = "".join(read_chunks(path))
    assert "\x0c" in text and "\x1b" in text  # real text: kept, never dropped silently
    assert "\x1b" not in visible(text) and "\x0c" not in visible(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"oh my\r\nlove\r\n", "oh my\nlove\n"),
        (b"oh my\rlove\r", "oh my\nlove\n"),
        (b"a\r\n\r\nb\rc", "a\n\nb\nc"),
    ],
)
def test_line_ends_are_normalised_to_newline(tmp_path, raw, expected):
    path = _write(tmp_path, raw)
    assert "".join(read_chunks(path)) == expected
    vocab = CharTokenizer.train(read_chunks(path)).vocab
    assert "\r" not in vocab


def test_a_crlf_split_between_reads_is_one_line_break(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 3)  # "ab\r" | "\ncd" | ...
    path = _write(tmp_path, b"ab\r\ncd\r\nef\rgh\r\n")
    chunks = list(read_chunks(path))
    assert "".join(chunks) == "ab\ncd\nef\ngh\n"
    assert all("\r" not in chunk for chunk in chunks)


def test_a_bpe_vocabulary_below_the_byte_alphabet_is_refused():
    with pytest.raises(ConfigError, match="bpe_vocab_size 100 must be between 256 and 65536"):
        DataConfig(tokenizer="bpe", bpe_vocab_size=100)
    assert DataConfig(tokenizer="bpe", bpe_vocab_size=256).bpe_vocab_size == 256


def test_a_bpe_vocabulary_the_corpus_cannot_fill_reports_its_real_size(tmp_path):
    path = _write(tmp_path, b"oh my love\n" * 40)
    config = DataConfig(corpus=str(path), tokenizer="bpe", bpe_vocab_size=60000)
    tokenizer, _, _ = load_dataset(config, block_size=4)
    assert 256 <= tokenizer.vocab_size < 300  # what TrainingStarted.vocab_size then reports
