"""The sampling pipeline: the sampler draws from its last stage; the plain-Python redraw agrees."""

from __future__ import annotations

import math

import pytest
import torch

from engine.contract.config import ModelConfig, SampleConfig
from engine.contract.outputs import TopLogits
from engine.lens.sampling import STAGES, sampling_pipeline
from engine.model.generate import distribution, sample_ids, stream_tokens
from engine.model.gpt import GPT

SETTINGS = [
    (temperature, top_k, top_p)
    for temperature in (0.0, 0.5, 1.0, 2.0)
    for top_k in (0, 5)
    for top_p in (1.0, 0.7)
]


def _model(vocab: int = 40) -> GPT:
    torch.manual_seed(1)
    model = GPT(ModelConfig(block_size=8, n_layer=1, n_head=2, n_embd=16, vocab_size=vocab))
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.5)  # a peaked distribution, so top-k and top-p cut something
    return model.eval()


@pytest.mark.parametrize("temperature, top_k, top_p", SETTINGS)
def test_the_sampler_draws_from_the_pipelines_last_stage(temperature, top_k, top_p):
    config = SampleConfig(
        temperature=temperature, top_k=top_k, top_p=top_p, seed=3, max_new_tokens=12
    )
    generator = torch.Generator().manual_seed(config.seed)
    for token, drawn in sample_ids(_model(), [1, 2], config):
        stages = distribution(drawn.logits, config, stages=True)
        final = stages.after_top_p
        assert torch.allclose(drawn.probs, final) and float(final.sum()) == pytest.approx(1.0)
        if temperature == 0:
            assert stages.greedy and token == int(torch.argmax(final))
            continue
        cdf = final.cumsum(0)  # the same seeded inverse-CDF draw, made from the pipeline
        u = float(torch.rand((), generator=generator)) * float(cdf[-1])
        assert token == min(int(torch.searchsorted(cdf, u, right=True)), len(final) - 1)
        if top_k:
            assert int((stages.after_top_k > 0).sum()) == top_k
            assert float(stages.kth_logit) == pytest.approx(
                float(torch.topk(drawn.logits / temperature, top_k).values[-1])
            )
        if top_p < 1:
            kept = final[final > 0]
            assert float(stages.p_threshold) == pytest.approx(
                float(stages.after_top_k[final > 0].min())
            )
            assert len(kept) <= (top_k or 40)


def _top(logits: torch.Tensor, n: int) -> TopLogits:
    values, ids = torch.topk(logits, n)
    return TopLogits(
        tuple(ids.tolist()),
        tuple(str(i) for i in ids.tolist()),
        tuple(values.tolist()),
        float(torch.logsumexp(logits, 0)),
        logits.numel(),
    )


@pytest.mark.parametrize("temperature, top_k, top_p", SETTINGS)
def test_the_plain_python_redraw_matches_the_torch_pipeline_for_a_small_vocabulary(
    temperature, top_k, top_p
):
    logits = torch.randn(30, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 2
    config = SampleConfig(temperature=temperature, top_k=top_k, top_p=top_p)
    torch_stages = distribution(logits, config, stages=True)
    top = _top(logits, 30)
    redrawn = sampling_pipeline(top, temperature, top_k, top_p)
    assert redrawn.exact and redrawn.greedy == (temperature == 0)
    assert [s.name for s in redrawn.stages] == list(STAGES)
    expected = [torch_stages.raw, torch_stages.tempered, torch_stages.after_top_k]
    for stage, probs in zip(redrawn.stages, [*expected, torch_stages.probs], strict=True):
        assert stage.rest == 0.0
        assert stage.probs == pytest.approx(probs[list(top.token_ids)].tolist(), abs=1e-6)
    if temperature and top_k:
        assert redrawn.stages[2].cutoff == pytest.approx(float(torch_stages.kth_logit))
        assert redrawn.stages[2].kept == top_k
    if temperature and top_p < 1:
        assert redrawn.final.cutoff == pytest.approx(float(torch_stages.p_threshold))
        assert redrawn.final.kept == int((torch_stages.probs > 0).sum())
    assert redrawn.stages[1].active == (temperature != 1)


def test_a_large_vocabulary_folds_the_tail_into_a_rest_that_keeps_the_mass():
    logits = torch.randn(500, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    top = _top(logits, 64)
    raw = sampling_pipeline(top, 1.0).final
    assert not sampling_pipeline(top, 1.0).exact
    assert sum(raw.probs) + raw.rest == pytest.approx(1.0) and raw.rest > 0.5
    exact = torch.softmax(logits, 0)[list(top.token_ids)].tolist()
    assert raw.probs == pytest.approx(exact)  # temperature 1 is exact for the top M
    cut = sampling_pipeline(top, 0.7, top_k=10)  # top-k within M is exact too
    expected = distribution(logits, SampleConfig(temperature=0.7, top_k=10)).probs
    assert cut.final.probs == pytest.approx(expected[list(top.token_ids)].tolist(), abs=1e-6)
    assert cut.final.rest == 0.0
    hot = sampling_pipeline(top, 2.0).stages[1]  # an estimate, but a distribution all the same
    assert sum(hot.probs) + hot.rest == pytest.approx(1.0) and not math.isnan(hot.rest)


def test_each_generated_token_carries_what_redraws_its_pipeline():
    class Letters:
        def decode(self, ids):
            return "".join(chr(97 + i % 26) for i in ids)

        def token_text(self, i):
            return chr(97 + i % 26)

    config = SampleConfig(temperature=0.8, top_k=6, top_n=3, max_new_tokens=5, seed=4)
    model = _model(vocab=50)
    assert all(t.logits is None for t in stream_tokens(model, Letters(), [1, 2], config))
    for token in stream_tokens(model, Letters(), [1, 2], config, top_logits=64):
        carried = token.logits
        assert carried is not None and len(carried.token_ids) == 50  # vocab <= 64: all of it
        assert carried.texts[0] == token.candidates[0].text
        redrawn = sampling_pipeline(carried, config.temperature, config.top_k, config.top_p)
        assert redrawn.exact
        prob = redrawn.final.probs[carried.token_ids.index(token.token_id)]
        assert prob == pytest.approx(token.prob, abs=1e-4)
