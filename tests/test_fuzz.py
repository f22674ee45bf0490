"""Property-based tests (hypothesis): the codec, the corpus reader, the tokenizers and the command
line's argument checks, fed arbitrary values. Each property says what any input must give.

Examples are few and derandomized by default (the "ci" profile in conftest.py), so the suite stays
fast and stable on a 2-core machine; HYPOTHESIS_PROFILE=fuzz searches wider.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import io
import itertools
import json
import math
import types
import typing
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.cli.commands import build_parser, config_from_args
from engine.contract.codec import Family, Record
from engine.contract.config import RunConfig, SampleConfig
from engine.contract.errors import ConfigError, CorpusError
from engine.contract.events import EVENT_TYPES
from engine.contract.requests import REPLY_TYPES, REQUEST_TYPES
from engine.data.corpus import read_chunks
from engine.data.token_cache import encode_stream
from engine.data.tokenizer import BPETokenizer, CharTokenizer, WordTokenizer

FAMILIES = {"event": EVENT_TYPES, "request": REQUEST_TYPES, "reply": REPLY_TYPES}
# Any code point, lone surrogates too: text from undecodable bytes (a path, argv) holds them.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)


def _strategy(annotation: typing.Any) -> st.SearchStrategy:
    """Values of a record field's type, as the engine could produce them."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in args if arg is not type(None)]
        return st.none() | _strategy(inner)
    if origin is tuple and Ellipsis not in args:
        return st.tuples(*map(_strategy, args))
    if origin is tuple:
        return st.lists(_strategy(args[0]), max_size=3).map(tuple)
    if annotation is SampleConfig:  # validated on construction: vary its texts only
        return st.builds(SampleConfig, prompt=ANY_TEXT, probe=ANY_TEXT)
    if dataclasses.is_dataclass(annotation):
        return _record(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    simple = {float: st.floats(), int: st.integers(), bool: st.booleans(), str: ANY_TEXT}
    return simple[annotation]


def _record(cls: type) -> st.SearchStrategy:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)})


def _records(family: Family) -> st.SearchStrategy:
    return st.one_of([_record(cls) for cls in family.types.values()])


def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN and types kept (a float field never comes back an int)."""
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    return a == b and type(a) is type(b)


def _decodes_or_refuses(family: Family, line: str | bytes) -> None:
    try:
        record = family.from_json(line)
    except ValueError:
        return
    except ConfigError:  # a Generate's sample settings, well-formed but out of range: Refused
        assert family is REQUEST_TYPES
        return
    assert isinstance(record, Record) and record.kind in family.types


@pytest.mark.parametrize("name", FAMILIES)
@given(data=st.data())
def test_every_record_round_trips_as_one_utf8_line(name, data):
    family = FAMILIES[name]
    record = data.draw(_records(family))
    line = record.to_json()
    assert "\n" not in line
    line.encode("utf-8")  # writable to events.jsonl and the socket, whatever its text holds
    assert _same(family.from_json(line), record)
    assert _same(family.from_json(line.encode()), record)


@pytest.mark.parametrize("name", FAMILIES)
@given(data=st.data())
def test_a_truncated_line_is_a_value_error(name, data):
    family = FAMILIES[name]
    line = data.draw(_records(family)).to_json()
    cut = data.draw(st.integers(0, len(line) - 1))
    with pytest.raises(ValueError):
        family.from_json(line[:cut])


@pytest.mark.parametrize("name", FAMILIES)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_are_a_record_or_a_value_error(name, raw):
    _decodes_or_refuses(FAMILIES[name], raw)


@pytest.mark.parametrize("name", FAMILIES)
@given(data=st.data())
def test_a_record_with_any_field_replaced_is_a_record_or_a_value_error(name, data):
    family = FAMILIES[name]
    fields = json.loads(data.draw(_records(family)).to_json())
    assume(len(fields) > 1)
    key = data.draw(st.sampled_from(sorted(fields)))
    fields[key] = data.draw(JSON_VALUES)
    _decodes_or_refuses(family, json.dumps(fields))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 100_000))
def test_deep_nesting_is_a_value_error(depth):
    with pytest.raises(ValueError):
        EVENT_TYPES.from_json("[" * depth)
    _decodes_or_refuses(EVENT_TYPES, '{"kind":"step","step":' + "[" * depth + "]" * depth + "}")


# -- the command line's argument checks ----------------------------------------------------------

_VALUE_FLAGS = [
    action.option_strings[0]
    for action in build_parser()._subparsers._group_actions[0].choices["train"]._actions  # type: ignore[union-attr]
    if action.option_strings and action.nargs is None and action.type is not None
]
NUMBERISH = st.sampled_from(
    ["0", "-1", "1", "2", "nan", "-inf", "inf", "1e309", "1e-320", "0x10", "1_000", " 7 ", "",
     str(2**63), str(-(2**63) - 1), "9" * 30, "٣", "1.5", "-0.0", "true"]
)  # fmt: skip
# argv holds no NUL; anything else may come from a shell, undecodable bytes as lone surrogates.
ARG_TEXT = st.text(st.characters(exclude_categories=(), exclude_characters="\0"), max_size=10)


def _cli(argv: list[str]) -> tuple[int, str, RunConfig | None]:
    """tui.cli.main on argv up to the point a worker would start: (exit code, stderr, config)."""
    import tui.cli

    checked: list[RunConfig] = []

    def instead_of_training(args) -> int:
        checked.append(config_from_args(args))
        return 0

    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err):
        patch.setattr(tui.cli, "run_headless", instead_of_training)
        try:
            code = tui.cli.main(argv)
        except SystemExit as exit:  # argparse's own refusals
            code = exit.code  # type: ignore[assignment]
    return code, err.getvalue(), checked[0] if checked else None


@given(
    flags=st.lists(
        st.tuples(st.sampled_from(_VALUE_FLAGS), NUMBERISH | ARG_TEXT), min_size=1, max_size=3
    )
)
def test_any_flag_value_is_one_line_and_exit_2_or_a_valid_config(flags, tmp_path_factory):
    argv = ["--headless", *[part for flag, value in flags for part in (flag, value)]]
    assume("--corpus" not in argv and "--resume" not in argv and "--run-dir" not in argv)
    code, err, config = _cli(argv)
    if code == 0:
        assert err == "" and config is not None
        assert RunConfig.from_json(config.to_json()) == config  # config.json writes and reads
    else:
        assert code == 2, err
        assert err.count("\n") == 1 and err.startswith("llmlearns-tui") and "Traceback" not in err
        assert not any(unicodedata.category(char) == "Cc" for char in err[:-1])  # shown visibly


# -- the corpus reader and the tokenizers -------------------------------------------------------


@given(raw=st.binary(max_size=64) | ANY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
       chunk=st.integers(1, 9))  # fmt: skip
def test_any_file_reads_as_its_text_or_a_corpus_error(raw, chunk, tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "c.txt"
    path.write_bytes(raw)
    try:
        text = "".join(read_chunks(path, chunk_bytes=chunk))
    except CorpusError as error:
        assert "\n" not in str(error)
        return
    expected = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    assert text == expected and "\0" not in text and not text.isspace()


@pytest.fixture(scope="module")
def tokenizers() -> dict:
    text = "oh my love, you shine like the morning sun\nÜnïcödé 日本語 🎵 don't\n" * 3
    return {
        "word": WordTokenizer.train([text]),
        "char": CharTokenizer.train([text]),
        "bpe": BPETokenizer.train([text], 300),
    }


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
@given(text=ANY_TEXT | st.text(max_size=40))
def test_any_text_encodes_and_what_is_known_decodes_back(kind, text, tokenizers):
    tokenizer = tokenizers[kind]
    encoding = tokenizer.encode(text)
    assert all(0 <= i < tokenizer.vocab_size for i in encoding.ids)
    tokenizer.decode(encoding.ids)
    if kind == "char":
        assert len(encoding.ids) == len(text)
        if not encoding.unknown:
            assert tokenizer.decode(encoding.ids) == text
    elif kind == "bpe" and not any("\ud800" <= c <= "\udfff" for c in text):
        assert encoding.unknown == [] and tokenizer.decode(encoding.ids) == text  # byte-level


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
@given(text=st.text(st.sampled_from("ab ü\n.'日"), max_size=60), cuts=st.lists(st.integers(0, 60)))
def test_a_stream_cut_anywhere_encodes_as_the_whole_text(kind, text, cuts, tokenizers):
    tokenizer = tokenizers[kind]
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("engine.data.token_cache.PIECE_CHARS", 4)  # many pieces per chunk, too
        ids = [int(i) for part in encode_stream(tokenizer, chunks) for i in part]
    assert ids == tokenizer.encode(text).ids
