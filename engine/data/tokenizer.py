"""Tokenizers: word (the teaching demo's), char, byte-level BPE trained with `tokenizers`, and
GPT-2's own BPE read from its files.

The first three train on a stream of text chunks, encode a whole corpus into one int32 tensor, save
to and load from one JSON file, and encode prompts without failing: unknown pieces become `<unk>`
and are reported back in the Encoding.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.contract.errors import CheckpointError

UNK = "<unk>"
UNK_ID = 0  # word and char vocabularies start with UNK; BPE has none
NEWLINE = "\n"
# Words keep inner apostrophes ("don't"); every other non-space character is a token of its own.
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|\n|[^\w\s]|_")
_NO_SPACE_BEFORE = set(".,!?;:)]}%'’\n")
_NO_SPACE_AFTER = set("([{\n")
# Lone surrogates: what undecodable bytes become in a str (a prompt from argv); `tokenizers` cannot
# take them, and no corpus holds them (it is read as strict UTF-8).
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Encoding:
    ids: list[int]
    unknown: list[str]  # the pieces of the text that the vocabulary lacks, in order

    def unknown_in(self, count: int) -> list[str]:
        """The unknown pieces among the first `count` ids: a text cut to the context window
        lacks what was cut off. Each unknown piece is one <unk> (id 0), in order."""
        return self.unknown[: self.ids[:count].count(UNK_ID)]


class Tokenizer(ABC):
    kind: str

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def encode(self, text: str) -> Encoding: ...

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str: ...

    @abstractmethod
    def token_text(self, token_id: int) -> str:
        """How one token reads on its own (for candidate lists and attention labels)."""

    @abstractmethod
    def _state(self) -> dict: ...

    @abstractmethod
    def encode_corpus(self, chunks: Iterable[str]) -> torch.Tensor:
        """Encode a stream of text chunks into one int32 tensor of token ids."""

    @abstractmethod
    def hugging_face(self) -> str:
        """This tokenizer as a Hugging Face tokenizer.json (for `export --hf`)."""

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **self._state()}, ensure_ascii=False)

    def save(self, path: Path) -> None:
        from engine.runs.files import atomic_write_text

        atomic_write_text(path, self.to_json())


class WordTokenizer(Tokenizer):
    kind = "word"

    def __init__(self, vocab: list[str]):
        self.vocab = vocab
        self.index = {word: i for i, word in enumerate(vocab)}

    @classmethod
    def train(cls, chunks: Iterable[str]) -> WordTokenizer:
        counts: Counter[str] = Counter()
        for chunk in chunks:
            counts.update(_WORD_RE.findall(chunk.lower()))
        counts.pop(UNK, None)
        # Most frequent first, so ids read naturally in the vocabulary listing.
        return cls([UNK, *sorted(counts, key=lambda w: (-counts[w], w))])

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> Encoding:
        words = _WORD_RE.findall(text.lower())
        ids = [self.index.get(word, 0) for word in words]
        return Encoding(ids, [word for word, i in zip(words, ids, strict=True) if i == 0])

    def encode_corpus(self, chunks: Iterable[str]) -> torch.Tensor:
        ids = array("i")
        lookup = self.index.get
        for chunk in chunks:
            ids.extend(lookup(word, 0) for word in _WORD_RE.findall(chunk.lower()))
        return (
            torch.frombuffer(ids, dtype=torch.int32) if ids else torch.zeros(0, dtype=torch.int32)
        )

    def decode(self, ids: Iterable[int]) -> str:
        out: list[str] = []
        for i in ids:
            word = self.token_text(i)
            if out and word[0] not in _NO_SPACE_BEFORE and out[-1][-1] not in _NO_SPACE_AFTER:
                out.append(" ")
            out.append(word)
        return "".join(out)

    def token_text(self, token_id: int) -> str:
        return self.vocab[token_id] if 0 <= token_id < len(self.vocab) else UNK

    def _state(self) -> dict:
        return {"vocab": self.vocab}

    def hugging_face(self) -> str:
        """The same vocabulary and splitting for Hugging Face's tokenizers (its decoder joins
        words with spaces, where ours keeps punctuation against the word before it)."""
        from tokenizers import Regex, normalizers, pre_tokenizers
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers.models import WordLevel

        hf = HFTokenizer(WordLevel(self.index, unk_token=UNK))
        hf.normalizer = normalizers.Lowercase()
        # The words themselves are what the pattern matches: the spaces between go.
        hf.pre_tokenizer = pre_tokenizers.Split(Regex(_WORD_RE.pattern), "removed", invert=True)
        return hf.to_str()


class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, vocab: list[str]):
        self.vocab = vocab
        self.index = {char: i for i, char in enumerate(vocab)}
        # Code point -> id table for fast corpus encoding; the extra last slot catches everything
        # past the largest known code point and maps it to <unk> (id 0).
        top = max((ord(c) for c in vocab[1:]), default=0) + 1
        self._table = torch.zeros(top + 1, dtype=torch.int32)
        for char, i in self.index.items():
            if len(char) == 1:
                self._table[ord(char)] = i

    @classmethod
    def train(cls, chunks: Iterable[str]) -> CharTokenizer:
        chars: set[str] = set()
        for chunk in chunks:
            chars.update(chunk)
        return cls([UNK, *sorted(chars)])

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> Encoding:
        ids = [self.index.get(char, 0) for char in text]
        return Encoding(ids, [char for char, i in zip(text, ids, strict=True) if i == 0])

    def encode_corpus(self, chunks: Iterable[str]) -> torch.Tensor:
        parts = []
        limit = len(self._table) - 1
        for chunk in chunks:
            code_points = torch.frombuffer(bytearray(chunk.encode("utf-32-le")), dtype=torch.int32)
            parts.append(self._table[code_points.clamp(max=limit)])
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int32)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.token_text(i) for i in ids)

    def token_text(self, token_id: int) -> str:
        return self.vocab[token_id] if 0 <= token_id < len(self.vocab) else UNK

    def _state(self) -> dict:
        return {"vocab": self.vocab}

    def hugging_face(self) -> str:
        """The same characters for Hugging Face's tokenizers: one token each, joined back as is."""
        from tokenizers import Regex, decoders, pre_tokenizers
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers.models import WordLevel

        hf = HFTokenizer(WordLevel(self.index, unk_token=UNK))
        hf.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        hf.decoder = decoders.Fuse()
        return hf.to_str()


class BPETokenizer(Tokenizer):
    """Byte-level BPE: every string encodes, so nothing is ever unknown."""

    kind = "bpe"

    def __init__(self, hf_tokenizer):
        self.hf = hf_tokenizer

    @classmethod
    def train(cls, chunks: Iterable[str], vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        hf.train_from_iterator(chunks, trainer=trainer)
        return cls(hf)

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def encode(self, text: str) -> Encoding:
        return Encoding(self.hf.encode(_SURROGATE.sub("\ufffd", text)).ids, [])

    def encode_corpus(self, chunks: Iterable[str]) -> torch.Tensor:
        ids = array("i")
        for chunk in chunks:
            ids.extend(self.hf.encode(chunk).ids)
        return (
            torch.frombuffer(ids, dtype=torch.int32) if ids else torch.zeros(0, dtype=torch.int32)
        )

    def decode(self, ids: Iterable[int]) -> str:
        return self.hf.decode(list(ids))

    def token_text(self, token_id: int) -> str:
        return self.hf.decode([token_id])

    def _state(self) -> dict:
        return {"tokenizer": json.loads(self.hf.to_str())}

    def hugging_face(self) -> str:
        return self.hf.to_str()


class GPT2Tokenizer(BPETokenizer):
    """GPT-2's own byte-level BPE, read from its files (never trained here)."""

    kind = "gpt2"

    @classmethod
    def from_folder(cls, folder: Path) -> GPT2Tokenizer:
        """From tokenizer.json, else vocab.json and merges.txt; CheckpointError naming the file."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers

        single = folder / "tokenizer.json"
        try:
            if single.is_file():
                return cls(HFTokenizer.from_file(str(single)))
            vocab, merges = folder / "vocab.json", folder / "merges.txt"
            hf = HFTokenizer(models.BPE.from_file(str(vocab), str(merges)))
        except Exception as error:  # tokenizers raises its own Exception subclass
            name = single if single.is_file() else folder / "vocab.json"
            raise CheckpointError(f"{name} is not a GPT-2 tokenizer ({error})") from None
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        return cls(hf)


def tokenizer_from_json(text: str) -> Tokenizer:
    raw = json.loads(text)
    kind = raw.get("kind")
    if kind == "word":
        return WordTokenizer(list(raw["vocab"]))
    if kind == "char":
        return CharTokenizer(list(raw["vocab"]))
    if kind in ("bpe", "gpt2"):
        from tokenizers import Tokenizer as HFTokenizer

        hf = HFTokenizer.from_str(json.dumps(raw["tokenizer"]))
        return BPETokenizer(hf) if kind == "bpe" else GPT2Tokenizer(hf)
    raise ValueError(f"unknown tokenizer kind {kind!r}")


def load_tokenizer(path: Path) -> Tokenizer:
    """Load tokenizer.json; a missing or malformed file is a CheckpointError naming it."""
    try:
        return tokenizer_from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not a valid tokenizer file ({error})") from None
    except Exception as error:  # tokenizers raises its own Exception subclass on bad JSON
        raise CheckpointError(f"{path} is not a valid tokenizer file ({error})") from None
