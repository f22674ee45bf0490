"""The modern recipe: rotary embeddings against a reference, each option learning, Muon's groups,
char-modern's exact resume, and cached decoding under every option."""

from __future__ import annotations

import itertools
import math
from dataclasses import fields, replace

import pytest
import torch

from engine import PRESETS, Trainer
from engine.contract.config import ModelConfig, SampleConfig
from engine.contract.events import StepCompleted
from engine.model.generate import sample_ids
from engine.model.gpt import GPT
from engine.runs.files import read_events
from engine.training.optim import Optimizers
from tests.conftest import tiny_config

OPTIONS = ("rope", "qk_norm", "relu2", "tie_head", "zero_init")
MODERN = PRESETS["char-modern"]


def _on(option: str) -> dict:
    """The option switched away from its classic default."""
    default = next(f.default for f in fields(ModelConfig) if f.name == option)
    return {option: not default}


def _modern_tiny(corpus, **train):
    """A tiny model with every option and train setting char-modern has (its shape aside)."""
    config = tiny_config(corpus, **train)
    m, t = MODERN.model, MODERN.train
    model = replace(config.model, **{name: getattr(m, name) for name in OPTIONS})
    modern_train = ("muon", "muon_lr", "muon_momentum", "lr", "min_lr", "weight_decay", "beta2")
    train_config = replace(config.train, **{name: getattr(t, name) for name in modern_train})
    return replace(config, model=model, train=train_config)


def test_char_modern_is_char_smalls_shape_with_every_option():
    small = PRESETS["char-small"].model
    assert (MODERN.model.n_layer, MODERN.model.n_head) == (small.n_layer, small.n_head)
    assert (MODERN.model.n_embd, MODERN.model.block_size) == (small.n_embd, small.block_size)
    assert all(getattr(MODERN.model, name) != getattr(small, name) for name in OPTIONS)
    assert MODERN.train.muon and not PRESETS["char-small"].train.muon


def _reference_rotation(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x (..., T, hs) turned as complex numbers: channel j + i * channel (j + hs/2), times
    e^(i * position / 10000^(2j / hs))."""
    hs = x.size(-1)
    half = hs // 2
    z = torch.complex(x[..., :half].double(), x[..., half:].double())
    theta = positions.double()[:, None] / 10000 ** (torch.arange(half).double() * 2 / hs)
    turned = z * torch.polar(torch.ones_like(theta), theta)
    return torch.cat((turned.real, turned.imag), dim=-1).float()


def test_rope_attention_matches_a_reference_rotation():
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=20, block_size=12, n_layer=1, n_head=2, n_embd=16, rope=True)
    attn = GPT(config).blocks[0].attn.eval()
    x = torch.randn(2, 12, 16)
    B, T, C, nh, hs = 2, 12, 16, 2, 8
    q, k, v = attn.c_attn(x).view(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4)  # (B, nh, T, hs)
    positions = torch.arange(T)
    q, k = _reference_rotation(q, positions), _reference_rotation(k, positions)
    scores = q @ k.transpose(-2, -1) / math.sqrt(hs)
    scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
    with torch.no_grad():
        assert torch.allclose(attn(x), attn.c_proj(y), atol=1e-5)
        # Rotation keeps lengths, and a score depends on the distance between positions only.
        assert torch.allclose(q.norm(dim=-1), _reference_rotation(q, 0 * positions).norm(dim=-1))
        # The same query and key 3 apart score the same wherever they sit.
        one = torch.randn(1, 1, 1, hs).expand(1, 1, T, hs)
        turned = _reference_rotation(one, positions)[0, 0]  # (T, hs)
        assert torch.allclose(turned[5] @ turned[2], turned[9] @ turned[6], atol=1e-5)


@pytest.mark.parametrize("option", [*OPTIONS, "muon"])
def test_each_option_alone_trains_a_tiny_model_to_a_lower_loss(corpus, option):
    config = tiny_config(corpus, max_steps=20, eval_every=100, lr=3e-3, min_lr=3e-3)
    if option == "muon":
        config = replace(config, train=replace(config.train, muon=True))
    else:
        config = replace(config, model=replace(config.model, **_on(option)))
    trainer = Trainer.create(config)
    first = trainer.evaluate().train_loss
    list(trainer.events())
    assert trainer.evaluate().train_loss < first - 0.5


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest(corpus):
    trainer = Trainer.create(_modern_tiny(corpus))
    optimizer = trainer.optimizer
    assert isinstance(optimizer, Optimizers)
    adamw, muon = optimizer.optimizers
    assert isinstance(adamw, torch.optim.AdamW) and isinstance(muon, torch.optim.Muon)
    names = {id(p): name for name, p in trainer.model.named_parameters()}
    in_muon = {names[id(p)] for group in muon.param_groups for p in group["params"]}
    decayed, plain = ({names[id(p)] for p in group["params"]} for group in adamw.param_groups)
    assert in_muon == {
        f"blocks.{i}.{part}.weight"
        for i in range(2)
        for part in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
    }
    assert decayed == {"wte.weight", "lm_head.weight"}  # embeddings and the untied head
    assert plain == {name for name in names.values() if "ln" in name}  # the gains
    assert in_muon | decayed | plain == set(names.values())
    assert muon.param_groups[0]["momentum"] == MODERN.train.muon_momentum
    trainer.train_step()
    assert muon.param_groups[0]["lr"] / adamw.param_groups[0]["lr"] == pytest.approx(
        MODERN.train.muon_lr / MODERN.train.lr
    )


def test_a_char_modern_checkpoint_resumes_exactly(corpus, tmp_path):
    config = _modern_tiny(corpus, max_steps=16, warmup_steps=4, eval_every=12)
    straight = [e for e in Trainer.create(config).events() if isinstance(e, StepCompleted)]
    first = Trainer.create(config, tmp_path / "run")
    for event in first.events():
        if isinstance(event, StepCompleted) and event.step == 8:
            first.control.stop = True
    first.close()
    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.step == 8 and isinstance(resumed.optimizer, Optimizers)
    rest = [e for e in resumed.events() if isinstance(e, StepCompleted)]
    resumed.close()
    assert [e.step for e in rest] == list(range(9, 17))
    assert [e.lr for e in rest] == [e.lr for e in straight[8:]]
    assert [e.loss for e in rest] == [e.loss for e in straight[8:]]  # bit for bit
    history = [e.step for e in read_events(tmp_path / "run") if isinstance(e, StepCompleted)]
    assert history == list(range(1, 17))


def test_a_checkpoint_without_muons_state_is_refused_in_one_line(corpus, tmp_path):
    from engine.contract.errors import ConfigError

    config = _modern_tiny(corpus, max_steps=4, eval_every=4)
    list(Trainer.create(config, tmp_path / "run").events())
    with pytest.raises(ConfigError, match="--muon False cannot apply on resume"):
        Trainer.resume(tmp_path / "run", {"train": {"muon": False}})


@pytest.mark.parametrize(
    "combo",
    list(itertools.product([False, True], repeat=len(OPTIONS))),
    ids=lambda combo: "-".join(n for n, on in zip(OPTIONS, combo, strict=True) if on) or "none",
)
def test_cached_and_uncached_greedy_decoding_agree(combo):
    torch.manual_seed(0)
    options = dict(zip(OPTIONS, combo, strict=True))
    model = GPT(
        ModelConfig(vocab_size=40, block_size=12, n_layer=2, n_head=2, n_embd=16, **options)
    )
    with torch.no_grad():  # random weights, not the (possibly zero) init: every part matters
        for name, param in model.named_parameters():
            if "ln" not in name:
                param.normal_(0.0, 0.4)
    model.eval()
    prompt = [3, 1, 4, 1, 5]
    # 30 new tokens on a 12-token context: the window slides, and the cache restarts at 0.
    runs = [
        [t for t, _ in sample_ids(model, prompt, SampleConfig(temperature=0, max_new_tokens=30,
                                                              use_cache=cached))]
        for cached in (True, False)
    ]  # fmt: skip
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    "options", [{}, {"rope": True}, {"tie_head": False}, _on("rope") | _on("tie_head")]
)
def test_the_memory_check_counts_the_parameters_each_option_builds(options):
    from engine.training.memory import count_params

    config = ModelConfig(vocab_size=30, block_size=8, n_layer=2, n_head=2, n_embd=16, **options)
    assert count_params(config) == GPT(config).num_params()
