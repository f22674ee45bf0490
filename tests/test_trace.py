"""The forward trace against the model it traces: same logits, same attention, stated shapes."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from engine import PRESETS, EngineError
from engine.contract.config import ModelConfig
from engine.contract.inside import STAGE_KINDS, stage_layout
from engine.data.tokenizer import Encoding
from engine.lens.trace import trace, trace_tensors
from engine.model.gpt import GPT

VOCAB = 23
MODERN_KINDS = {"normed_query", "normed_key", "rotated_query", "rotated_key", "relu_squared"}
MODERN = {"rope": True, "qk_norm": True, "relu2": True, "tie_head": False, "zero_init": True}


class Chars:
    """A minimal tokenizer over VOCAB letters, enough for trace()."""

    def encode(self, text):
        ids = [ord(c) - ord("a") for c in text if 0 <= ord(c) - ord("a") < VOCAB]
        return Encoding(ids, [])

    def token_text(self, i):
        return chr(ord("a") + i)


def _model(config: ModelConfig, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(replace(config, vocab_size=VOCAB, dropout=0.0))
    with torch.no_grad():  # random, not the near-zero init, so every stage has something to show
        for name, param in model.named_parameters():
            if "ln" not in name:
                param.normal_(0.0, 0.3)
    return model


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("name", ["seed", "char-small", "char-gpu"])
def test_the_trace_reaches_the_models_own_logits_and_attention(name, bias):
    config = replace(PRESETS[name].model, bias=bias)
    model = _model(config)
    T = min(config.block_size, 12)
    ids = [(7 * i + 3) % VOCAB for i in range(T)]
    stages = trace_tensors(model, ids)
    idx = torch.tensor([ids])
    with torch.no_grad():
        logits, _ = model(idx)
        _, attention = model.forward_with_attention(idx)
    kinds = [kind for kind, _ in stages]
    assert kinds[0] == "tokens" and kinds[-3:] == ["logits", "probabilities", "top_candidates"]
    assert set(kinds) == set(STAGE_KINDS) - MODERN_KINDS
    traced_logits = dict(stages)["logits"]
    assert torch.allclose(traced_logits, logits[0], atol=1e-4, rtol=1e-4)  # float32 sums
    softmaxes = [tensor for kind, tensor in stages if kind == "softmax"]
    assert len(softmaxes) == config.n_layer
    for layer, probs in enumerate(softmaxes):
        assert torch.allclose(probs, attention[0, layer], atol=1e-6)
    C, nh = config.n_embd, config.n_head
    layout = stage_layout(T, VOCAB, config.block_size, config.n_layer, nh, C, bias)
    assert [tuple(t.shape) for _, t in stages] == [spec.shape for spec in layout]
    shapes = {spec.kind: spec.shape for spec in layout}
    assert shapes["embedding_sum"] == (T, C) and shapes["scores"] == (nh, T, T)
    assert shapes["query"] == (nh, T, C // nh) and shapes["mlp_up"] == (T, 4 * C)
    assert shapes["logits"] == (T, VOCAB)


@pytest.mark.parametrize("bias", [False, True])
def test_one_positions_summary_carries_its_vectors_norms_and_parameter_counts(bias):
    config = replace(PRESETS["seed"].model, bias=bias)
    model = _model(config)
    result = trace(model, Chars(), "abcab", position=3, step=9)
    C, nh, T = config.n_embd, config.n_head, 5
    assert result.tokens == tuple("abcab") and result.position == 3 and result.step == 9
    assert sum(part.params for part in result.parts) == result.n_params == model.num_params()
    by_name = {stage.name: stage for stage in result.stages}
    embedding = by_name["token + position"]
    expected = (model.wte.weight[0] + model.wpe.weight[3]).tolist()
    assert embedding.shape == (T, C) and embedding.vectors[0] == pytest.approx(expected, abs=1e-4)
    assert embedding.norms[0] == pytest.approx(math.dist(expected, [0] * C), rel=1e-4)
    softmax = by_name["block 1 · softmax"]
    assert softmax.per_head and len(softmax.vectors) == nh and softmax.shape == (nh, T, T)
    for row in softmax.vectors:  # position 3 sees keys 0..3 only
        assert sum(row) == pytest.approx(1.0, abs=1e-3) and row[4] == 0.0
    masked = by_name["block 0 · causal mask"].vectors[0]
    assert masked[4] == float("-inf") and math.isfinite(by_name["block 0 · causal mask"].norms[0])
    assert by_name["block 0 · query"].params == C * C + (C if bias else 0)
    assert by_name["logits (tied head)"].params == 0
    probs = by_name["probabilities"].vectors[0]
    assert result.candidates[0].token_id == max(range(VOCAB), key=probs.__getitem__)
    assert len(result.neighbours) == 8 and result.neighbours[0].token_id != 0
    sims = [n.similarity for n in result.neighbours]
    assert sims == sorted(sims, reverse=True) and all(-1 <= s <= 1 for s in sims)
    table = model.wte.weight.detach()
    best = max(
        (i for i in range(VOCAB) if i != 0),
        key=lambda i: float(torch.cosine_similarity(table[i], table[0], dim=0)),
    )
    assert result.neighbours[0].token_id == best


def test_positions_count_from_the_end_and_out_of_range_is_refused():
    model = _model(PRESETS["seed"].model)
    assert trace(model, Chars(), "abcd", position=-1).position == 3
    with pytest.raises(EngineError, match="outside the text's 4 tokens"):
        trace(model, Chars(), "abcd", position=4)
    long = trace(model, Chars(), "abcdefghij")
    assert long.truncated and len(long.tokens) == PRESETS["seed"].model.block_size
    assert model.training  # the trace restores train mode


@pytest.mark.parametrize(
    "options",
    [{"rope": True}, {"qk_norm": True}, {"relu2": True}, {"tie_head": False}, MODERN],
    ids=["rope", "qk_norm", "relu2", "untied", "all"],
)
def test_the_trace_follows_each_modern_option_to_the_models_own_logits(options):
    config = replace(PRESETS["char-small"].model, block_size=16, **options)
    model = _model(config)
    ids = [(5 * i + 2) % VOCAB for i in range(12)]
    stages = trace_tensors(model, ids)
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids]))
        _, attention = model.forward_with_attention(torch.tensor([ids]))
    assert torch.allclose(dict(stages)["logits"], logits[0], atol=1e-4, rtol=1e-4)
    softmaxes = [tensor for kind, tensor in stages if kind == "softmax"]
    for layer, probs in enumerate(softmaxes):
        assert torch.allclose(probs, attention[0, layer], atol=1e-6)
    kinds = {kind for kind, _ in stages}
    rope = options.get("rope", False)
    assert ("position_embedding" in kinds) != rope and ("embedding_sum" in kinds) != rope
    assert ("rotated_query" in kinds) == rope and ("rotated_key" in kinds) == rope
    assert ("normed_query" in kinds) == options.get("qk_norm", False)
    assert ("relu_squared" in kinds) == options.get("relu2", False) != ("gelu" in kinds)
    m = config
    layout = stage_layout(
        12, VOCAB, m.block_size, m.n_layer, m.n_head, m.n_embd, m.bias,
        rope=m.rope, qk_norm=m.qk_norm, relu2=m.relu2, tie_head=m.tie_head,
    )  # fmt: skip
    assert [(spec.kind, spec.shape) for spec in layout] == [
        (kind, tuple(tensor.shape)) for kind, tensor in stages
    ]
    result = trace(model, Chars(), "abcab", position=2)
    assert sum(part.params for part in result.parts) == result.n_params == model.num_params()
    assert sum(stage.params for stage in result.stages if stage.layer is None) == sum(
        part.params for part in result.parts if "block" not in part.name
    )


def test_with_rope_the_first_stage_after_the_embedding_is_the_first_block():
    model = _model(replace(PRESETS["seed"].model, rope=True))
    names = [stage.name for stage in trace(model, Chars(), "abcab").stages]
    assert names[:3] == ["token ids", "token embedding", "block 0 · LayerNorm 1"]
    assert "block 0 · query, turned" in names and "block 1 · key, turned" in names


def test_the_trace_labels_each_head_as_head_roles_does_on_the_same_text():
    from engine.lens.attention import capture_attention
    from engine.lens.head_roles import head_roles
    from tests.test_head_roles import _hand_built_gpt

    model = _hand_built_gpt()  # head 0 looks at the previous token, head 1 at the first
    text = "dbebfjcg"  # ids 3 1 4 1 5 9 2 6
    roles = trace(model, Chars(), text).roles
    assert [(r.layer, r.head, r.role) for r in roles] == [
        (0, 0, "previous-token"),
        (0, 1, "first-token"),
    ]
    expected = head_roles(capture_attention(model, Chars(), text))
    assert [r.role for r in roles] == [r.role for r in expected]
    assert [r.score for r in roles] == pytest.approx([r.score for r in expected], abs=1e-5)
