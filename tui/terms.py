"""Which glossary entry (tui/glossary.md) explains each config field: the one map the New-run
form's "learn about this field" and any other view showing a setting read from.

The field's one-line description stays in engine.contract.config (describe()); this only says where
the longer story is. tests/test_learn_reach.py checks every form field has an entry here and every
entry names a glossary heading.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

GLOSSARY = Path(__file__).resolve().parent / "glossary.md"

FIELD_TERMS: dict[tuple[str, str], str] = {
    ("data", "corpus"): "Token",
    ("data", "tokenizer"): "Tokenizer",
    ("data", "bpe_vocab_size"): "Tokenizer",
    ("data", "val_fraction"): "Validation fraction",
    ("data", "task"): "Synthetic tasks",
    ("data", "modulus"): "Modular addition",
    ("data", "train_fraction"): "Modular addition",
    ("data", "symbols"): "Induction task",
    ("model", "block_size"): "Block size (context window)",
    ("model", "n_layer"): "Transformer",
    ("model", "n_head"): "Multi-head attention",
    ("model", "n_embd"): "Embedding",
    ("model", "dropout"): "Dropout",
    ("model", "bias"): "Bias",
    ("model", "vocab_size"): "Vocabulary",
    ("model", "rope"): "Rotary position embeddings (RoPE)",
    ("model", "qk_norm"): "QK-norm",
    ("model", "relu2"): "ReLU²",
    ("model", "tie_head"): "Untied LM head",
    ("model", "zero_init"): "Zero-initialised projections",
    ("model", "gelu_tanh"): "ReLU and GELU",
    ("model", "layer_norm_eps"): "Layer normalization",
    ("model", "init_from"): "Pretrained GPT-2",
    ("train", "max_steps"): "Epoch",
    ("train", "batch_size"): "Batch",
    ("train", "lr"): "Learning rate",
    ("train", "min_lr"): "Warmup and cosine schedule",
    ("train", "warmup_steps"): "Warmup and cosine schedule",
    ("train", "weight_decay"): "Weight decay",
    ("train", "beta1"): "AdamW",
    ("train", "beta2"): "AdamW",
    ("train", "grad_clip"): "Gradient norm and clipping",
    ("train", "muon"): "Muon",
    ("train", "muon_lr"): "Muon",
    ("train", "muon_momentum"): "Muon",
    ("train", "eval_every"): "Train and validation loss",
    ("train", "eval_batches"): "Train and validation loss",
    ("train", "keep_checkpoints"): "Replay and kept weights",
    ("train", "stats_every"): "Training statistics",
    ("train", "log_every"): "Smoothing (EMA)",
    ("train", "seed"): "Comparing runs",
    ("train", "device"): "Tokens per second and ETA",
    ("train", "compile"): "Tokens per second and ETA",
    ("sample", "prompt"): "Temperature, top-k and top-p",
    ("sample", "max_new_tokens"): "Temperature, top-k and top-p",
    ("sample", "temperature"): "Temperature, top-k and top-p",
    ("sample", "top_k"): "Temperature, top-k and top-p",
    ("sample", "top_p"): "Temperature, top-k and top-p",
    ("sample", "seed"): "Temperature, top-k and top-p",
    ("sample", "top_n"): "Softmax",
    ("sample", "use_cache"): "Keys, queries and values",
    ("sample", "probe"): "Head roles",
}


def field_term(section: str, name: str) -> str | None:
    """The glossary heading that explains a config field, or None if it has none yet."""
    return FIELD_TERMS.get((section, name))


@cache
def headings() -> tuple[str, ...]:
    """Every `## ` heading of the glossary, in order."""
    text = GLOSSARY.read_text(encoding="utf-8")
    return tuple(re.findall(r"^## (.+?)\s*$", text, flags=re.MULTILINE))


def entry(heading: str) -> str:
    """The Markdown of one glossary entry, its heading excluded; '' if there is no such entry."""
    text = GLOSSARY.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\s*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return match.group(1).strip() if match else ""
