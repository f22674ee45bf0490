"""Run configuration: dataclasses for data, model, training and sampling, plus the named presets.

Every config validates itself on construction and reports all of its problems in one ConfigError.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

TOKENIZERS = ("word", "char", "bpe")
DEVICES = ("auto", "cpu", "cuda", "mps")
# Byte-level BPE starts from all 256 bytes and has no special tokens: `tokenizers` silently
# rounds a smaller vocab_size up to this, so a smaller one is refused rather than ignored.
BPE_MIN_VOCAB = 256


def _check(problems: list[str]) -> None:
    if problems:
        raise ConfigError("; ".join(problems))


@dataclass(frozen=True)
class DataConfig:
    corpus: str = ""  # path to a UTF-8 text file; empty means the bundled default corpus
    tokenizer: str = "word"
    bpe_vocab_size: int = 512  # bpe only; at most: a small corpus may allow fewer merges
    val_fraction: float = 0.1  # the contiguous tail of the corpus held out for validation

    def __post_init__(self) -> None:
        problems = []
        if self.tokenizer not in TOKENIZERS:
            problems.append(f"tokenizer {self.tokenizer!r} is not one of {', '.join(TOKENIZERS)}")
        if not BPE_MIN_VOCAB <= self.bpe_vocab_size <= 65536:
            problems.append(
                f"bpe_vocab_size {self.bpe_vocab_size} must be between {BPE_MIN_VOCAB} and 65536 "
                f"(byte-level BPE always holds the {BPE_MIN_VOCAB} byte tokens)"
            )
        if not 0.0 < self.val_fraction < 0.5:
            problems.append(f"val_fraction {self.val_fraction} must be between 0 and 0.5")
        _check(problems)


@dataclass(frozen=True)
class ModelConfig:
    block_size: int = 6  # context length in tokens
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 32
    dropout: float = 0.0
    bias: bool = False  # biases in Linear and LayerNorm layers
    vocab_size: int = 0  # 0 until a tokenizer fills it in

    def __post_init__(self) -> None:
        problems = []
        for name in ("block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if value < 1:
                problems.append(f"{name} {value} must be at least 1")
        if self.n_head >= 1 and self.n_embd % self.n_head:
            problems.append(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout {self.dropout} must be in [0, 1)")
        if self.vocab_size < 0:
            problems.append(f"vocab_size {self.vocab_size} must not be negative")
        _check(problems)

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int = 1500
    batch_size: int = 16
    lr: float = 1e-3
    min_lr: float = 1e-3  # cosine decay ends here; equal to lr means a constant rate
    warmup_steps: int = 0
    weight_decay: float = 0.01  # applied to 2-D weights only
    beta1: float = 0.9
    beta2: float = 0.999
    grad_clip: float = 1.0  # 0 turns clipping off
    eval_every: int = 300  # also when the sample is drawn and a checkpoint is written
    eval_batches: int = 20
    log_every: int = 1  # steps between StepCompleted events
    seed: int = 1337
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    compile: bool = False  # torch.compile the model (slow to start, faster per step)

    def __post_init__(self) -> None:
        problems = []
        for name in ("max_steps", "batch_size", "eval_every", "eval_batches", "log_every"):
            value = getattr(self, name)
            if value < 1:
                problems.append(f"{name} {value} must be at least 1")
        if not 0.0 < self.lr < float("inf"):  # huge is allowed: watching a run diverge teaches
            problems.append(f"lr {self.lr} must be a positive number")
        if not 0.0 <= self.min_lr <= self.lr:
            problems.append(f"min_lr {self.min_lr} must be between 0 and lr {self.lr}")
        if self.warmup_steps < 0:
            problems.append(f"warmup_steps {self.warmup_steps} must not be negative")
        if self.weight_decay < 0:
            problems.append(f"weight_decay {self.weight_decay} must not be negative")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                problems.append(f"{name} {value} must be in [0, 1)")
        if self.grad_clip < 0:
            problems.append(f"grad_clip {self.grad_clip} must not be negative")
        if self.device not in DEVICES:
            problems.append(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        _check(problems)


@dataclass(frozen=True)
class SampleConfig:
    prompt: str = "oh"
    max_new_tokens: int = 30
    temperature: float = 1.0  # 0 means greedy
    top_k: int = 0  # 0 keeps every token
    top_p: float = 1.0  # 1.0 keeps every token
    seed: int = 42
    top_n: int = 5  # candidates reported with each generated token
    use_cache: bool = True  # the KV cache; off recomputes the whole context for every token
    probe: str = ""  # text whose attention is stored at every eval; empty: the corpus's first line

    def __post_init__(self) -> None:
        problems = []
        if self.max_new_tokens < 1:
            problems.append(f"max_new_tokens {self.max_new_tokens} must be at least 1")
        if self.temperature < 0:
            problems.append(f"temperature {self.temperature} must not be negative")
        if self.top_k < 0:
            problems.append(f"top_k {self.top_k} must not be negative")
        if not 0.0 < self.top_p <= 1.0:
            problems.append(f"top_p {self.top_p} must be in (0, 1]")
        if self.top_n < 0:
            problems.append(f"top_n {self.top_n} must not be negative")
        _check(problems)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; stored as the run directory's config.json."""

    preset: str = "seed"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Build from a dict like config.json's; unknown keys are errors, missing ones default."""
        parts: dict[str, Any] = {"preset": str(raw.get("preset", "custom"))}
        problems = []
        for name, section in SECTIONS.items():
            values = dict(raw.get(name) or {})
            known = {f.name for f in fields(section)}
            problems += [f"unknown {name} setting {key!r}" for key in values.keys() - known]
            try:
                parts[name] = section(**{k: v for k, v in values.items() if k in known})
            except ConfigError as error:
                problems.append(str(error))
            except TypeError as error:
                problems.append(f"{name}: {error}")
        _check(problems)
        return cls(**parts)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))

    def with_overrides(self, overrides: dict[str, dict[str, Any]]) -> RunConfig:
        """Return a copy with {section: {field: value}} replaced, validating every section."""
        parts: dict[str, Any] = {}
        problems = []
        for name, values in overrides.items():
            if not values:
                continue
            try:
                parts[name] = replace(getattr(self, name), **values)
            except ConfigError as error:
                problems.append(str(error))
        _check(problems)
        return replace(self, **parts)

    def for_resume(self, overrides: dict[str, dict[str, Any]]) -> RunConfig:
        """This stored config with overrides for a resume; refuses, in one line, any that would
        change what the checkpoint fixes (FIXED_ON_RESUME), naming their flags."""
        refused = []
        for name, values in overrides.items():
            for key, value in (values or {}).items():
                stored = getattr(getattr(self, name, None), key, None)
                if key in FIXED_ON_RESUME.get(name, ()) and not _same(key, value, stored):
                    refused.append(f"--{key.replace('_', '-')} {value}")
        if refused:
            raise ConfigError(
                f"{', '.join(refused)} cannot apply on resume: the checkpoint fixes its model and "
                "vocabulary (start a new run to change them)"
            )
        return self.with_overrides(overrides)


def _same(key: str, value: Any, stored: Any) -> bool:
    if key == "corpus":  # stored resolved; "" is the bundled corpus
        from engine.corpus import DEFAULT_CORPUS

        def resolved(path: Any) -> Path:
            return (Path(path).expanduser() if path else DEFAULT_CORPUS).resolve()

        return resolved(value) == resolved(stored)
    return value == stored


# What a checkpoint fixes: the model's shape, and the vocabulary with what built it. Dropout and
# every train and sample setting may change when a run resumes.
FIXED_ON_RESUME = {
    "model": ("block_size", "n_layer", "n_head", "n_embd", "bias", "vocab_size"),
    "data": ("corpus", "tokenizer", "bpe_vocab_size"),
}


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "sample": SampleConfig,
}

PRESETS: dict[str, RunConfig] = {
    # The teaching demo this project grew out of: a word-level GPT on a dozen song lines.
    "seed": RunConfig(preset="seed"),
    # nanoGPT's well-known CPU recipe for a character-level model.
    "char-small": RunConfig(
        preset="char-small",
        data=DataConfig(tokenizer="char"),
        model=ModelConfig(block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0),
        train=TrainConfig(
            max_steps=2000,
            batch_size=12,
            lr=1e-3,
            min_lr=1e-4,
            warmup_steps=100,
            weight_decay=0.1,
            beta2=0.99,
            eval_every=250,
            eval_batches=20,
        ),
        sample=SampleConfig(prompt="\n", max_new_tokens=200, temperature=0.8, top_k=200),
    ),
}
# The GPU version of the same recipe (nanoGPT's shakespeare_char config).
PRESETS["char-gpu"] = replace(
    PRESETS["char-small"],
    preset="char-gpu",
    model=ModelConfig(block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
    train=replace(
        PRESETS["char-small"].train, max_steps=5000, batch_size=64, eval_batches=200, log_every=10
    ),
    sample=replace(PRESETS["char-small"].sample, max_new_tokens=300),
)
DEFAULT_PRESET = "seed"


def preset(name: str) -> RunConfig:
    """Return a named preset, or raise ConfigError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
