"""One JSON codec for every typed record the engine writes or sends: events, requests, replies.

A record is a frozen dataclass with a `kind`; a Family maps kinds to classes and decodes a line back
into the right class, field by field, following the type annotations (nested dataclasses, tuples,
enums, optional values). Non-finite floats travel as strings, since strict JSON has no NaN.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar, cast

R = TypeVar("R", bound="Record")
T = TypeVar("T")  # what a Family decodes to: a union of its record classes
# Every record's line starts with its kind (to_json writes it first), and JSON escapes every quote
# inside a string, so these bytes start a record and occur nowhere else in its line: a reader can
# pick lines by kind, or find where one record ends, without parsing them.
LINE_START = b'{"kind":'
Decoder = Callable[[Any], Any]
_SURROGATE = re.compile("[\ud800-\udfff]")
_NON_FINITE = {"nan", "inf", "-inf"}  # str() of the floats plain() turns into strings


def line_prefix(kind: str) -> bytes:
    """How every line of a record of this kind starts."""
    return LINE_START + json.dumps(kind).encode()


@dataclasses.dataclass(frozen=True)
class Record:
    kind: ClassVar[str] = ""

    def to_json(self) -> str:
        """One line of JSON: {"kind": ..., **fields}."""
        payload = {"kind": self.kind, **plain(self)}
        line = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        if _SURROGATE.search(line):  # only inside strings, where its escape means the same
            line = _SURROGATE.sub(lambda match: f"\\u{ord(match[0]):04x}", line)
        return line


def dump_json(value: Any) -> str:
    """A plain dataclass (not a Record: no kind) as one line of JSON, the way records write it."""
    return json.dumps(plain(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def load_json(cls: type[T], line: str | bytes) -> T:
    """The dataclass `cls` back from dump_json's line; raises ValueError on anything else."""
    try:
        return cast(T, _dataclass_decoder(cls)(json.loads(line)))
    except TypeError as error:  # a required field missing
        raise ValueError(f"bad {cls.__name__}: {error}") from None


def omitted_at(default: Any) -> Any:
    """A dataclass field left out of the JSON while it holds `default` (and read back as it): a
    field added later costs the logs nothing where it does not apply."""
    return dataclasses.field(default=default, metadata={_OMIT: True})


_OMIT = "omit_at_default"


def plain(value: Any) -> Any:
    """A value as JSON-ready Python: dataclasses as dicts, tuples as lists, NaN as "nan"."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ((f, getattr(value, f.name)) for f in dataclasses.fields(value))
        return {
            f.name: plain(item)
            for f, item in fields
            if not (f.metadata.get(_OMIT) and item == f.default)
        }
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def _decoder(annotation: Any) -> Decoder:
    """A function that turns the JSON form of `annotation` back into its Python value."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        inner = _decoder(options[0]) if len(options) == 1 else _identity
        return lambda raw: None if raw is None else inner(raw)
    if (
        origin is tuple
        and len(typing.get_args(annotation)) > 1
        and (Ellipsis not in typing.get_args(annotation))
    ):  # a fixed-length tuple such as (str, float): one decoder per place
        places = [_decoder(arg) for arg in typing.get_args(annotation)]
        return lambda raw: tuple(
            decode(x) for decode, x in zip(places, _typed(raw, list), strict=True)
        )
    if origin in (tuple, list):
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        item = _decoder(args[0]) if args else _identity
        return lambda raw: origin(item(x) for x in _typed(raw, list))
    if annotation is float:
        return _float
    if annotation in (int, str, bool):
        return lambda raw: _typed(raw, annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation  # a value it does not know is a ValueError
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _dataclass_decoder(annotation)
    return _identity


def _identity(raw: Any) -> Any:
    return raw


def _typed(raw: Any, kind: type) -> Any:
    """`raw` if JSON gave it as `kind` (a bool is not an int here), else ValueError."""
    if not isinstance(raw, kind) or (kind is not bool and isinstance(raw, bool)):
        raise ValueError(f"expected {kind.__name__}, got {type(raw).__name__}")
    return raw


def _float(raw: Any) -> float:
    """A number, or the string plain() wrote for a non-finite one; an int becomes a float."""
    if isinstance(raw, str) and raw in _NON_FINITE:
        return float(raw)
    if not isinstance(raw, (int, float)) or isinstance(raw, bool):
        raise ValueError(f"expected a number, got {type(raw).__name__}")
    try:
        return float(raw)
    except OverflowError:  # an int past float's range
        raise ValueError(f"{raw} is out of range for a float") from None


def _dataclass_decoder(cls: type) -> Decoder:
    hints = typing.get_type_hints(cls)
    decoders = {f.name: _decoder(hints[f.name]) for f in dataclasses.fields(cls)}

    def decode(raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise ValueError(f"{cls.__name__} is not a JSON object")
        # Keys this version does not know are dropped: an older client reads a newer log.
        return cls(**{k: decoders[k](v) for k, v in raw.items() if k in decoders})

    return decode


class Family(Generic[T]):
    """The record classes that may appear in one stream (events, requests or replies); `T` is
    what from_json gives back (the union of them, or their base class)."""

    def __init__(self, name: str):
        self.name = name
        self.types: dict[str, type[Record]] = {}
        self._decoders: dict[str, Decoder] = {}

    def register(self, cls: type[R]) -> type[R]:
        """Class decorator: add a record class; its kind must be unique in the family."""
        assert cls.kind and cls.kind not in self.types, f"{self.name} kind {cls.kind!r} reused"
        self.types[cls.kind] = cls
        return cls

    def from_json(self, line: str | bytes) -> T:
        """Parse one line written by Record.to_json; raises ValueError on anything else."""
        try:
            raw = json.loads(line)
        except RecursionError:  # nesting deeper than the parser's stack: not a record either
            raise ValueError(f"{self.name} nests too deeply") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{self.name} is not a JSON object")
        kind = raw.pop("kind", None)
        if not isinstance(kind, str) or kind not in self.types:
            raise ValueError(f"unknown {self.name} kind {kind!r}")
        decode = self._decoders.get(kind)
        if decode is None:  # built on first use: annotations resolve once every class exists
            decode = self._decoders[kind] = _dataclass_decoder(self.types[kind])
        try:
            return cast(T, decode(raw))
        except (TypeError, ValueError, RecursionError) as error:  # a field missing or mistyped
            raise ValueError(f"bad {self.name} {kind!r}: {error}") from None
