"""A run exported as Hugging Face GPT-2 loads in `transformers` and computes what the app's model
computes; runs GPT-2 cannot express are refused in one line."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from engine import ConfigError, Trainer
from engine.training.hf_export import export_hf
from tests.conftest import tiny_config

transformers = pytest.importorskip("transformers", reason="the dev extra installs transformers")


def _trained(corpus, tmp_path, tokenizer="char", **model):
    config = tiny_config(corpus, tokenizer, max_steps=5, eval_every=5)
    config = replace(config, model=replace(config.model, **model))
    trainer = Trainer.create(config, tmp_path / "run")
    for _ in trainer.events():
        pass
    trainer.close()
    return trainer


@pytest.mark.parametrize("tokenizer", ["char", "word", "bpe"])
def test_an_exported_run_computes_the_same_logits_in_transformers(corpus, tmp_path, tokenizer):
    trainer = _trained(corpus, tmp_path, tokenizer)
    written = export_hf(tmp_path / "run", tmp_path / "hf")
    assert sorted(written) == ["config.json", "model.safetensors", "tokenizer.json"]
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    ids = torch.randint(0, trainer.tokenizer.vocab_size, (2, 12))
    with torch.no_grad():
        ours, _ = trainer.model.eval()(ids)
        theirs = hf(ids).logits
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=1e-4)
    hf_tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(tmp_path / "hf" / "tokenizer.json")
    )
    text = "oh my love, you shine"
    assert hf_tokenizer(text)["input_ids"] == trainer.tokenizer.encode(text).ids


def test_options_gpt2_has_not_are_refused_naming_them(corpus, tmp_path):
    _trained(corpus, tmp_path, rope=True, tie_head=False)
    with pytest.raises(
        ConfigError, match="trained with --rope, --no-tie-head, which GPT-2 has not"
    ):
        export_hf(tmp_path / "run", tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_zero_init_exports_since_trained_weights_are_ordinary(corpus, tmp_path):
    _trained(corpus, tmp_path, zero_init=True)
    export_hf(tmp_path / "run", tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["activation_function"] == "gelu" and config["n_layer"] == 2
