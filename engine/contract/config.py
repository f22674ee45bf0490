"""Run configuration: dataclasses for data, model, training and sampling, plus the named presets.

Every config validates itself on construction and reports all of its problems in one ConfigError.
Each field carries a one-line description (`describe(section, name)`), written once for every place
that explains the field: the CLI's --help and the New-run form.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.contract.errors import ConfigError

# The bundled corpus, in the repository's data/ folder: what an empty `corpus` setting means.
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "data" / "love_songs.txt"

TOKENIZERS = ("word", "char", "bpe", "gpt2")  # gpt2: GPT-2's own, read with --init-from
# Synthetic tasks a run can learn instead of a corpus (engine/data/tasks.py); "" is the corpus.
TASKS = ("induction", "modadd")
TASK_TEXT = 3  # modadd's model input "a b =": the answer c is predicted after it
DEVICES = ("auto", "cpu", "cuda", "mps")
# Byte-level BPE starts from all 256 bytes and has no special tokens: `tokenizers` silently
# rounds a smaller vocab_size up to this, so a smaller one is refused rather than ignored.
BPE_MIN_VOCAB = 256


# torch keeps integers in 64 bits (a seed, a size, a step count): a larger one cannot reach it.
INT_LIMIT = 2**63
_KINDS = {"int": int, "float": float, "str": str, "bool": bool}  # annotations are postponed


def _check(problems: list[str]) -> None:
    if problems:
        raise ConfigError("; ".join(problems))


def _check_values(config: Any) -> None:
    """Refuse fields of the wrong type (config.json or a script may hold anything), non-finite
    floats (NaN passes every comparison) and integers past 64 bits, before any range check."""
    problems = []
    for item in fields(config):
        value, kind = getattr(config, item.name), _KINDS[str(item.type)]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is float and not number or kind is int and not (number and type(value) is int):
            problems.append(f"{item.name} must be a {'whole ' if kind is int else ''}number")
        elif kind in (str, bool) and not isinstance(value, kind):
            problems.append(f"{item.name} must be {'text' if kind is str else 'true or false'}")
        elif kind is float and not math.isfinite(value):
            problems.append(f"{item.name} {value} must be a finite number")
        elif kind is int and not -INT_LIMIT <= value < INT_LIMIT:
            problems.append(f"{item.name} {value} does not fit in 64 bits")
    _check(problems)


def described(default: Any, help: str) -> Any:
    """A config field with its description: the one text that --help, the New-run form and the
    Learn view show for it (see describe())."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class DataConfig:
    corpus: str = described("", "the UTF-8 text file to learn from; empty: the bundled corpus")
    tokenizer: str = described(
        "word",
        "how text is cut into tokens: word (whole words), char (single characters), bpe "
        "(pieces of words learned from the corpus) or gpt2 (GPT-2's own, with --init-from)",
    )
    bpe_vocab_size: int = described(
        512,
        "how many distinct tokens the bpe tokenizer learns, at least 256 (every byte); a small "
        "corpus may allow fewer; word and char ignore it",
    )
    val_fraction: float = described(
        0.1,
        "share of the corpus, taken from its end, held back to measure the validation loss; "
        "never trained on",
    )
    task: str = described(
        "",
        "a synthetic task instead of the corpus: induction (random tokens, each sequence "
        "repeated once, so the repeat is predictable only by copying) or modadd (a b = c, "
        "c = (a + b) mod modulus, full batch); empty: the corpus",
    )
    modulus: int = described(
        113, "modadd: the modulus p; the task holds every pair a, b below it (p² of them)"
    )
    train_fraction: float = described(
        0.3, "modadd: share of the p² pairs trained on; the others are held out as val"
    )
    symbols: int = described(
        64, "induction: how many distinct random tokens (numbers) its sequences draw from"
    )

    def __post_init__(self) -> None:
        _check_values(self)
        problems = []
        if self.task and self.task not in TASKS:
            problems.append(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.task and self.tokenizer != "word":
            problems.append(
                f"a task brings its own tokens (numbers and symbols, read as words): "
                f"tokenizer {self.tokenizer!r} does not apply; leave it as word"
            )
        if not 2 <= self.modulus <= 1000:
            problems.append(f"modulus {self.modulus} must be between 2 and 1000")
        if not 0.0 < self.train_fraction < 1.0:
            problems.append(f"train_fraction {self.train_fraction} must be between 0 and 1")
        if not 2 <= self.symbols <= 10000:
            problems.append(f"symbols {self.symbols} must be between 2 and 10000")
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
    block_size: int = described(
        6, "context length: how many tokens the model sees when it predicts the next one"
    )
    n_layer: int = described(
        2, "transformer blocks stacked one on another; more can learn more, and trains slower"
    )
    n_head: int = described(
        2, "attention heads per block, each free to attend to its own pattern; must divide n_embd"
    )
    n_embd: int = described(32, "width of the vector that stands for each token (embedding size)")
    dropout: float = described(
        0.0,
        "fraction of activations zeroed at random while training; fights overfitting; "
        "0 turns it off",
    )
    bias: bool = described(
        False, "give linear and layer-norm layers a learned offset (a bias) besides their weights"
    )
    vocab_size: int = described(
        0, "how many distinct tokens there are; set by the tokenizer, 0 until it has run"
    )
    # The modern recipe, one switch each (README: "What the modern recipe changes").
    rope: bool = described(
        False,
        "rotary position embeddings: each head turns its queries and keys by an angle that grows "
        "with position, instead of adding a learned position table",
    )
    qk_norm: bool = described(
        False,
        "normalise each head's queries and keys to a fixed length before they are compared, so "
        "attention scores cannot blow up",
    )
    relu2: bool = described(
        False, "the MLP's activation is ReLU squared (max(0, x)²) instead of GELU"
    )
    tie_head: bool = described(
        True,
        "the output head reuses the token embedding (tied); --no-tie-head gives the head its "
        "own weights",
    )
    zero_init: bool = described(
        False,
        "start the output projections of attention and MLP (and an untied head) at zero, so "
        "each block begins as a pass-through",
    )
    # What GPT-2 needs (engine/model/pretrained.py sets them from its config.json).
    gelu_tanh: bool = described(
        False, "the MLP's GELU uses its tanh approximation, as GPT-2 was trained with"
    )
    layer_norm_eps: float = described(
        1e-5, "the small number LayerNorm adds to the variance so it never divides by zero"
    )
    init_from: str = described(
        "",
        "a folder with GPT-2's Hugging Face files (config.json, model.safetensors and its "
        "tokenizer) to start from; the model's size comes from it",
    )

    def __post_init__(self) -> None:
        _check_values(self)
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
        if not 0.0 < self.layer_norm_eps < 1.0:
            problems.append(f"layer_norm_eps {self.layer_norm_eps} must be between 0 and 1")
        if self.init_from:
            modern = [f"--{name.replace('_', '-')}" for name in MODERN if getattr(self, name)]
            modern += [] if self.tie_head else ["--no-tie-head"]
            if modern:
                problems.append(
                    f"--init-from loads GPT-2, which has no {', '.join(modern)}; leave "
                    f"{'it' if len(modern) == 1 else 'them'} out"
                )
        if self.rope and self.n_head >= 1 and (self.n_embd // self.n_head) % 2:
            problems.append(
                f"rope turns channels in pairs: the head size {self.n_embd // self.n_head} "
                "(n_embd / n_head) must be even"
            )
        _check(problems)

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head


MODERN = ("rope", "qk_norm", "relu2", "zero_init")  # with an untied head: what GPT-2 lacks


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int = described(
        1500,
        "optimizer steps to train for; each step learns from one batch; 0 only looks at the "
        "model as it starts (a pretrained one, say)",
    )
    batch_size: int = described(
        16,
        "sequences learned from together in one step; more gives steadier steps and needs "
        "more memory",
    )
    lr: float = described(
        1e-3,
        "learning rate: how far each step moves the weights; too high diverges, too low crawls",
    )
    min_lr: float = described(
        1e-3, "learning rate the cosine decay ends at; equal to lr keeps the rate constant"
    )
    warmup_steps: int = described(
        0, "steps over which the learning rate climbs from 0 to lr at the start"
    )
    weight_decay: float = described(
        0.01,
        "how hard AdamW pulls the 2-D weights towards zero at each step; a mild guard against "
        "overfitting",
    )
    beta1: float = described(
        0.9, "AdamW's momentum: how much of earlier gradients each step keeps (nearer 1: smoother)"
    )
    beta2: float = described(
        0.999,
        "AdamW's memory of squared gradients, which sizes each weight's step "
        "(nearer 1: a longer memory)",
    )
    muon: bool = described(
        False,
        "train the blocks' weight matrices with Muon (an orthogonalised momentum step) and the "
        "rest with AdamW",
    )
    muon_lr: float = described(
        0.02, "Muon's learning rate at the peak of the schedule (lr is AdamW's)"
    )
    muon_momentum: float = described(
        0.95, "Muon's momentum: how much of earlier gradients each step keeps"
    )
    grad_clip: float = described(
        1.0,
        "largest gradient norm allowed; a longer gradient is scaled down to it; "
        "0 turns clipping off",
    )
    eval_every: int = described(
        300,
        "steps between evals; each eval also draws a sample, stores an attention snapshot and "
        "saves a checkpoint",
    )
    eval_batches: int = described(
        20, "batches averaged for the train and val loss at each eval; more is steadier, slower"
    )
    keep_checkpoints: int = described(
        6,
        "past evals whose weights are kept (spread over the run), so replay can ask the model "
        "as it was; 0 keeps none",
    )
    log_every: int = described(
        1, "steps between reported training losses (the points of the loss chart)"
    )
    stats_every: int = described(
        100,
        "steps between training statistics (gradient and weight norms, update:data ratios, dead "
        "MLP units, attention entropy), each measured on one step; 0 turns them off",
    )
    seed: int = described(
        1337,
        "random seed for the initial weights and the order of batches; the same seed repeats a run",
    )
    device: str = described(
        "auto",
        "where training runs: cpu, cuda (an NVIDIA GPU) or mps (an Apple GPU); auto picks "
        "cuda, then mps, then cpu",
    )
    compile: bool = described(
        False,
        "compile the model with torch.compile: slow to start, faster per step (worth it on a GPU)",
    )

    def __post_init__(self) -> None:
        _check_values(self)
        problems = []
        if self.max_steps < 0:
            problems.append(f"max_steps {self.max_steps} must not be negative")
        for name in ("batch_size", "eval_every", "eval_batches", "log_every"):
            value = getattr(self, name)
            if value < 1:
                problems.append(f"{name} {value} must be at least 1")
        if not 0.0 < self.lr < float("inf"):  # huge is allowed: watching a run diverge teaches
            problems.append(f"lr {self.lr} must be a positive number")
        if not 0.0 <= self.min_lr <= self.lr:
            problems.append(f"min_lr {self.min_lr} must be between 0 and lr {self.lr}")
        if self.warmup_steps < 0:
            problems.append(f"warmup_steps {self.warmup_steps} must not be negative")
        if self.keep_checkpoints < 0:
            problems.append(f"keep_checkpoints {self.keep_checkpoints} must not be negative")
        if self.stats_every < 0:
            problems.append(f"stats_every {self.stats_every} must not be negative")
        if self.weight_decay < 0:
            problems.append(f"weight_decay {self.weight_decay} must not be negative")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                problems.append(f"{name} {value} must be in [0, 1)")
        if not 0.0 < self.muon_lr < float("inf"):
            problems.append(f"muon_lr {self.muon_lr} must be a positive number")
        if not 0.0 <= self.muon_momentum < 1.0:
            problems.append(f"muon_momentum {self.muon_momentum} must be in [0, 1)")
        if self.grad_clip < 0:
            problems.append(f"grad_clip {self.grad_clip} must not be negative")
        if self.device not in DEVICES:
            problems.append(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        _check(problems)


@dataclass(frozen=True)
class SampleConfig:
    prompt: str = described("oh", "text the model continues in the sample drawn at each eval")
    max_new_tokens: int = described(30, "how many tokens a sample adds after its prompt")
    temperature: float = described(
        1.0,
        "how adventurous sampling is: below 1 safer, above 1 wilder; 0 always takes the "
        "likeliest token",
    )
    top_k: int = described(0, "sample only among the k likeliest tokens; 0 keeps every token")
    top_p: float = described(
        1.0,
        "sample only among the likeliest tokens whose probabilities add up to p (nucleus "
        "sampling); 1 keeps every token",
    )
    seed: int = described(
        42, "random seed for sampling, so that samples at different steps compare fairly"
    )
    top_n: int = described(
        5, "how many of the likeliest candidates are shown beside each generated token"
    )
    use_cache: bool = described(
        True,
        "reuse the keys and values of earlier tokens (the KV cache) while generating; off gives "
        "the same text, more slowly",
    )
    probe: str = described(
        "",
        "text whose attention is stored at every eval for the time-lapse; empty: the corpus's "
        "first line",
    )

    def __post_init__(self) -> None:
        _check_values(self)
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

    def __post_init__(self) -> None:
        if self.data.tokenizer == "gpt2" and not self.model.init_from:
            raise ConfigError("the gpt2 tokenizer comes with GPT-2's files: give --init-from DIR")
        if self.data.task and self.model.init_from:
            raise ConfigError(f"--init-from loads GPT-2, which knows no {self.data.task} task")
        # modadd's sequences are "a b = c" and induction's need room for a repeat.
        least = {"modadd": TASK_TEXT, "induction": 4}.get(self.data.task, 1)
        if self.model.block_size < least:
            raise ConfigError(
                f"the {self.data.task} task needs block_size {least} or more, not "
                f"{self.model.block_size}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Build from a dict like config.json's; unknown keys are errors, missing ones default."""
        if not isinstance(raw, dict):
            raise ConfigError("a config is a JSON object of sections")
        parts: dict[str, Any] = {"preset": str(raw.get("preset", "custom"))}
        problems = []
        for name, section in SECTIONS.items():
            values = raw.get(name) or {}
            if not isinstance(values, dict):
                problems.append(f"{name} must be a JSON object of settings")
                continue
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
                f"{', '.join(refused)} cannot apply on resume: the checkpoint fixes its model, "
                "optimizer and vocabulary (start a new run to change them)"
            )
        return self.with_overrides(overrides)


def _same(key: str, value: Any, stored: Any) -> bool:
    if key == "corpus":  # stored resolved; "" is the bundled corpus

        def resolved(path: Any) -> Path:
            return (Path(path).expanduser() if path else DEFAULT_CORPUS).resolve()

        return resolved(value) == resolved(stored)
    return value == stored


# What a checkpoint fixes: the model's shape and options, the optimizer whose state it holds, and
# the vocabulary with what built it. Dropout and every other train and sample setting may change
# when a run resumes.
FIXED_ON_RESUME = {
    "model": (
        "block_size",
        "n_layer",
        "n_head",
        "n_embd",
        "bias",
        "vocab_size",
        "rope",
        "qk_norm",
        "relu2",
        "tie_head",
        "zero_init",
        "gelu_tanh",
        "layer_norm_eps",
        "init_from",
    ),  # fmt: skip
    "train": ("muon",),
    "data": (
        "corpus",
        "tokenizer",
        "bpe_vocab_size",
        "task",
        "modulus",
        "train_fraction",
        "symbols",
    ),
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
# char-small's shape with the modern recipe (README: "What the modern recipe changes"): rotary
# positions, QK-norm, ReLU², an untied head, zero-initialised projections, and Muon for the
# blocks' matrices. Tuned on tinyshakespeare (issue 10): Muon's orthogonalised steps cost the same
# at any batch size, so a batch of 48 spreads them over 4x char-small's tokens; 300 steps see 0.6x
# its tokens. Muon at 0.01-0.04 and AdamW at 4e-3-8e-3 all ended at val 1.698-1.712.
PRESETS["char-modern"] = replace(
    PRESETS["char-small"],
    preset="char-modern",
    model=replace(
        PRESETS["char-small"].model,
        rope=True,
        qk_norm=True,
        relu2=True,
        tie_head=False,
        zero_init=True,
    ),
    train=replace(
        PRESETS["char-small"].train,
        max_steps=300,
        batch_size=48,
        lr=4e-3,
        min_lr=4e-4,
        warmup_steps=30,
        muon=True,
        muon_lr=0.02,
        muon_momentum=0.95,
        eval_every=50,
    ),
)
# The two lessons of issue 17, small enough for a laptop CPU. grokking: modular addition as in
# Nanda et al.'s demo (one layer, full batch, AdamW with weight decay 1.0, beta2 0.98), with a
# smaller modulus so that val accuracy turns within minutes, not hours. Measured on a shared 2-core
# CPU: train accuracy 100% at step 100, val accuracy 98% at step 1,050, 252 s in. At half the pairs
# val accuracy rose with train accuracy: no memorising phase to see. induction: two layers on
# random stretches each shown twice; the repeats' loss falls off a cliff when a layer-0 head that
# looks one token back and a layer-1 head that copies from the earlier copy form together. Rotary
# positions make "one token back" a simple pattern to find: with a learned position table no head
# passed the induction threshold within 6,000 steps (a slow climb to 56% on the repeats, by heads
# that look back by position), and with rotary positions on one long repeat a row the model built
# its copying on heads that look 8 and 9 tokens back. Measured on the 2-core CPU: see README.
PRESETS["grokking"] = RunConfig(
    preset="grokking",
    data=DataConfig(task="modadd", modulus=97, train_fraction=0.3),
    model=ModelConfig(block_size=TASK_TEXT, n_layer=1, n_head=4, n_embd=128, dropout=0.0),
    train=TrainConfig(
        max_steps=2000,
        lr=1e-3,
        min_lr=1e-3,
        warmup_steps=10,
        weight_decay=1.0,
        beta2=0.98,
        eval_every=50,
        eval_batches=1,
        stats_every=50,
    ),
)
PRESETS["induction"] = RunConfig(
    preset="induction",
    data=DataConfig(task="induction", symbols=64),
    model=ModelConfig(block_size=32, n_layer=2, n_head=4, n_embd=64, dropout=0.0, rope=True),
    train=TrainConfig(
        max_steps=1000,
        batch_size=32,
        lr=1e-3,
        min_lr=1e-3,
        warmup_steps=20,
        weight_decay=0.01,
        eval_every=50,
        eval_batches=4,
        stats_every=50,
    ),
)
# GPT-2 small fine-tuned on the user's corpus, from their own files (--init-from DIR): a learning
# rate a tenth of training from scratch, a short warmup, and a batch and context a laptop holds.
# On a 2-core CPU one GPT-2 small forward pass over 512 tokens takes about a second, so the evals
# are small (val over 2,048 tokens) and the sample short; a GPU gives every setting room.
PRESETS["gpt2-finetune"] = RunConfig(
    preset="gpt2-finetune",
    model=ModelConfig(block_size=128),
    train=TrainConfig(
        max_steps=200,
        batch_size=4,
        lr=6e-5,
        min_lr=6e-6,
        warmup_steps=20,
        weight_decay=0.1,
        beta2=0.95,
        eval_every=50,
        eval_batches=4,
        keep_checkpoints=3,  # GPT-2 small's weights are 500 MB a copy
    ),
    sample=SampleConfig(prompt="\n", max_new_tokens=40, temperature=0.8, top_k=50),
)
PRETRAINED_PRESETS = ("gpt2-finetune",)  # they start from --init-from, and make no sense without
DEFAULT_PRESET = "seed"


def describe(section: str, name: str) -> str:
    """What the field `name` of config section `section` ("data", "model", ...) does, in a line."""
    try:
        cls = SECTIONS[section]
        return next(f for f in fields(cls) if f.name == name).metadata["help"]
    except (KeyError, StopIteration):
        raise KeyError(f"no config field {section}.{name}") from None


def preset(name: str) -> RunConfig:
    """Return a named preset, or raise ConfigError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
