"""GPT-2 from the user's own Hugging Face files (its size, its weights and its tokenizer), and a
run written back in the same layout (`export --hf`), with the one key map for both.

    DIR/config.json        n_layer, n_head, n_embd, n_positions, vocab_size, layer_norm_epsilon
    DIR/model.safetensors  GPT-2's tensors, named with or without "transformer."; the four
                           Conv1D weights stored (in, out), the transpose of a Linear's
    DIR/tokenizer.json, or DIR/vocab.json and DIR/merges.txt: GPT-2's byte-level BPE

Nothing is downloaded: the user points at a folder they have. Safetensors only: a folder with
only pytorch_model.bin is refused, since loading it would unpickle a file. Torch loads only when
weights do, so the command line can check a folder without it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.contract.config import MODERN, PRETRAINED_PRESETS, ModelConfig, RunConfig
from engine.contract.errors import ConfigError
from engine.runs.files import atomic_write, atomic_write_text

if TYPE_CHECKING:
    import torch

    from engine.model.gpt import GPT

CONFIG, WEIGHTS = "config.json", "model.safetensors"
# Stored by GPT-2 as Conv1D: (in, out), where a Linear holds (out, in).
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
MASKS = (".attn.bias", ".attn.masked_bias")  # GPT-2's causal-mask buffers, not weights


def check_folder(folder: Path) -> None:
    """The one-line refusal for a folder that cannot be GPT-2's files, naming what is missing."""
    if not folder.is_dir():
        raise ConfigError(f"--init-from {folder}: no such folder")
    if not (folder / WEIGHTS).is_file():
        pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
        if pickled:
            raise ConfigError(
                f"{folder} holds {pickled[0]} but no {WEIGHTS}: llm-learns reads safetensors "
                "only and never unpickles a file (the model's Hugging Face page offers "
                f"{WEIGHTS})"
            )
        raise ConfigError(f"{folder / WEIGHTS} is missing")
    if not (folder / CONFIG).is_file():
        raise ConfigError(f"{folder / CONFIG} is missing: it gives the model's size")
    tokenizer = (folder / "tokenizer.json").is_file() or all(
        (folder / name).is_file() for name in ("vocab.json", "merges.txt")
    )
    if not tokenizer:
        raise ConfigError(
            f"{folder} has no tokenizer: it needs tokenizer.json, or vocab.json and merges.txt"
        )


def read_config(folder: Path) -> dict[str, Any]:
    """The ModelConfig fields GPT-2's config.json sets."""
    path = folder / CONFIG
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        fields = {
            "n_layer": int(raw["n_layer"]),
            "n_head": int(raw["n_head"]),
            "n_embd": int(raw["n_embd"]),
            "vocab_size": int(raw["vocab_size"]),
            "layer_norm_eps": float(raw.get("layer_norm_epsilon", 1e-5)),
        }
        positions = int(raw.get("n_positions", raw.get("n_ctx", 1024)))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON ({error})") from None
    except (KeyError, TypeError) as error:
        raise ConfigError(f"{path} lacks GPT-2's {error} setting") from None
    activation = raw.get("activation_function", "gelu_new")
    if activation not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ConfigError(f"{path}: activation {activation!r} is not GPT-2's (gelu_new)")
    return {**fields, "positions": positions}


def with_pretrained(config: RunConfig) -> RunConfig:
    """`config` with the model's size and options set from its --init-from folder (unchanged
    without one). The context (block_size) stays the run's, up to GPT-2's n_positions."""
    folder = config.model.init_from
    if not folder:
        if config.preset in PRETRAINED_PRESETS:
            raise ConfigError(f"{config.preset} starts from GPT-2's files: give --init-from DIR")
        return config
    path = Path(folder).expanduser()
    check_folder(path)
    fields = read_config(path)
    positions = fields.pop("positions")
    if config.model.block_size > positions:
        raise ConfigError(
            f"--block-size {config.model.block_size} is longer than this GPT-2's context "
            f"({positions} positions in {path / CONFIG})"
        )
    model = replace(
        config.model, **fields, bias=True, gelu_tanh=True, tie_head=True, init_from=str(path)
    )
    return replace(config, model=model, data=replace(config.data, tokenizer="gpt2"))


def gpt2_name(ours: str) -> str:
    """GPT-2's name for one of our tensors ("blocks.0.attn.c_attn.weight" -> "h.0.attn...")."""
    return "h." + ours.removeprefix("blocks.") if ours.startswith("blocks.") else ours


def load_weights(folder: Path, model: GPT) -> None:
    """GPT-2's weights from folder/model.safetensors into `model` (built from with_pretrained's
    config), every name and shape checked; raises ConfigError naming the file and the tensor."""
    from safetensors import SafetensorError, safe_open

    path = folder / WEIGHTS
    try:
        handle = safe_open(str(path), framework="pt", device="cpu")
        stored = {
            key.removeprefix("transformer."): key
            for key in handle.keys()
            if not key.endswith(MASKS) and key != "lm_head.weight"  # the head is tied to wte
        }
    except (SafetensorError, OSError, ValueError) as error:
        raise ConfigError(f"{path} is not a readable safetensors file ({_first(error)})") from None
    wanted = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    weights: dict[str, torch.Tensor] = {}
    for ours, tensor in wanted.items():
        name = gpt2_name(ours)
        if name not in stored:
            raise ConfigError(f"{path} lacks the tensor {name!r}")
        try:
            value = handle.get_tensor(stored.pop(name))
        except (SafetensorError, OSError, ValueError, RuntimeError) as error:
            raise ConfigError(f"{path} is damaged at {name!r} ({_first(error)})") from None
        if name.endswith(CONV1D):
            value = value.t()
        if ours == "wpe.weight":  # a shorter context keeps the first positions
            value = value[: tensor.shape[0]]
        if tuple(value.shape) != tuple(tensor.shape):
            raise ConfigError(
                f"{path}: {name!r} has shape {tuple(value.shape)}, but {folder / CONFIG} makes "
                f"it {tuple(tensor.shape)}"
            )
        weights[ours] = value
    if stored:
        raise ConfigError(f"{path} has a tensor GPT-2 lacks: {sorted(stored)[0]!r}")
    model.load_state_dict(weights, strict=False)


def gpt2_tensors(model: GPT) -> dict[str, torch.Tensor]:
    """`model`'s weights under GPT-2's names and layout (Conv1D weights (in, out), "transformer."
    prefix, the tied head stored as lm_head too): the mirror of load_weights."""
    out = {}
    for ours, tensor in model.state_dict().items():
        name = gpt2_name(ours)
        value = tensor.detach().cpu()
        value = value.t() if name.endswith(CONV1D) else value
        out[name if name == "lm_head.weight" else f"transformer.{name}"] = (
            value.contiguous().clone()
        )
    return out


def refused_for_gpt2(model: ModelConfig) -> list[str]:
    """The options of `model` that GPT-2 cannot express, as flags; [] if it can be GPT-2."""
    refused = [f"--{name.replace('_', '-')}" for name in MODERN if getattr(model, name)]
    # Zero-initialised projections are only where training started: the weights it ends with
    # are ordinary weights, so a model trained with them exports as any other.
    refused = [flag for flag in refused if flag != "--zero-init"]
    return refused + ([] if model.tie_head else ["--no-tie-head"])


def save_gpt2(model: GPT, tokenizer_json: str | None, folder: Path) -> list[str]:
    """Write `model` as a Hugging Face GPT-2 folder (config.json, model.safetensors, and
    tokenizer.json when one is given); returns the names of the files written.

    A model without biases gets zero ones (the same function); GELU stays exact or tanh as it
    trained. Raises ConfigError naming the options GPT-2 cannot express."""
    import torch
    from safetensors.torch import save_file

    config = model.config
    if refused := refused_for_gpt2(config):
        raise ConfigError(
            f"GPT-2 has no {', '.join(refused)}: this run cannot be exported as GPT-2"
        )
    tensors = gpt2_tensors(model)
    C = config.n_embd
    for layer in range(config.n_layer):
        prefix = f"transformer.h.{layer}."
        for name, size in (("ln_1", C), ("ln_2", C), ("attn.c_attn", 3 * C),
                           ("attn.c_proj", C), ("mlp.c_fc", 4 * C), ("mlp.c_proj", C)):  # fmt: skip
            tensors.setdefault(f"{prefix}{name}.bias", torch.zeros(size))
    tensors.setdefault("transformer.ln_f.bias", torch.zeros(C))
    settings = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_embd": C,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "activation_function": "gelu_new" if config.gelu_tanh else "gelu",
        "layer_norm_epsilon": config.layer_norm_eps,
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "tie_word_embeddings": True,
        "bos_token_id": None,
        "eos_token_id": None,
    }
    written = [CONFIG, WEIGHTS]
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / WEIGHTS, lambda temp: save_file(tensors, temp, {"format": "pt"}))
    atomic_write_text(folder / CONFIG, json.dumps(settings, indent=2))
    if tokenizer_json is not None:
        atomic_write_text(folder / "tokenizer.json", tokenizer_json)
        written.append("tokenizer.json")
    return written


def _first(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:160]
