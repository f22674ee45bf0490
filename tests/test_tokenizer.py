import pytest
import torch

from engine.data.corpus import read_chunks
from engine.data.tokenizer import (
    BPETokenizer,
    CharTokenizer,
    WordTokenizer,
    load_tokenizer,
    tokenizer_from_json,
)
from tests.conftest import SONG


def _train(kind: str, corpus):
    if kind == "word":
        return WordTokenizer.train(read_chunks(corpus))
    if kind == "char":
        return CharTokenizer.train(read_chunks(corpus))
    return BPETokenizer.train(read_chunks(corpus), 300)


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
def test_round_trip_through_json(kind, corpus, tmp_path):
    tokenizer = _train(kind, corpus)
    tokenizer.save(tmp_path / "tokenizer.json")
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    text = "oh my love, you shine\nmy heart sings"
    assert loaded.encode(text).ids == tokenizer.encode(text).ids
    assert loaded.decode(loaded.encode(text).ids) == text
    assert loaded.vocab_size == tokenizer.vocab_size


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
def test_corpus_encoding_matches_prompt_encoding(kind, corpus):
    tokenizer = _train(kind, corpus)
    tokens = tokenizer.encode_corpus(read_chunks(corpus))
    assert tokens.dtype == torch.int32
    assert tokens.tolist() == tokenizer.encode(SONG * 12).ids


def test_word_tokenizer_lowercases_and_splits_punctuation():
    tokenizer = WordTokenizer.train(["Oh, baby! Don't go.\n"])
    encoding = tokenizer.encode("OH, baby!")
    assert [tokenizer.token_text(i) for i in encoding.ids] == ["oh", ",", "baby", "!"]
    assert tokenizer.decode(tokenizer.encode("oh, don't go.\nbaby").ids) == "oh, don't go.\nbaby"


def test_unknown_words_are_reported_not_fatal():
    tokenizer = WordTokenizer.train(["oh my love\n"])
    encoding = tokenizer.encode("oh my zebra love xylophone")
    assert encoding.unknown == ["zebra", "xylophone"]
    assert encoding.ids[2] == 0 and tokenizer.token_text(0) == "<unk>"


def test_a_text_cut_short_lacks_the_unknown_words_cut_off():
    tokenizer = WordTokenizer.train(["oh my love\n"])
    encoding = tokenizer.encode("oh zebra my zebra love xylophone")
    assert encoding.unknown_in(2) == ["zebra"]
    assert encoding.unknown_in(5) == ["zebra", "zebra"]
    assert encoding.unknown_in(99) == encoding.unknown


def test_unknown_chars_are_reported():
    tokenizer = CharTokenizer.train(["abc\n"])
    encoding = tokenizer.encode("abz")
    assert encoding.unknown == ["z"]
    assert len(encoding.ids) == 3


def test_bpe_never_has_unknowns(corpus):
    tokenizer = _train("bpe", corpus)
    encoding = tokenizer.encode("zebra ✓ 北京")
    assert encoding.unknown == []
    assert tokenizer.decode(encoding.ids) == "zebra ✓ 北京"


def test_a_corrupt_tokenizer_file_is_a_one_line_error(tmp_path):
    from engine import CheckpointError

    path = tmp_path / "tokenizer.json"
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="tokenizer.json is not a valid tokenizer file"):
        load_tokenizer(path)
    with pytest.raises(ValueError):
        tokenizer_from_json('{"kind": "morse"}')
