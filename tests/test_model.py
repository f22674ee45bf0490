import pytest
import torch

from engine import Trainer
from engine.contract.config import ModelConfig, SampleConfig
from engine.model.generate import sample_ids
from engine.model.gpt import GPT


def _model(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(
        ModelConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32, **kw)
    ).eval()


def test_both_attention_paths_give_the_same_logits():
    model = _model()
    idx = torch.randint(50, (3, 16))
    fast, _ = model(idx)
    inspected, probs = model.forward_with_attention(idx)
    assert torch.allclose(fast, inspected, atol=1e-5)
    assert probs.shape == (3, 2, 2, 16, 16)  # (B, n_layer, n_head, T, T)


def test_attention_rows_sum_to_one_and_never_look_ahead():
    _, probs = _model().forward_with_attention(torch.randint(50, (1, 12)))
    assert torch.allclose(probs.sum(-1), torch.ones(1, 2, 2, 12))
    future = torch.triu(torch.ones(12, 12, dtype=torch.bool), diagonal=1)
    assert probs[..., future].abs().max() == 0


def test_head_is_tied_to_the_token_embedding():
    model = _model()
    assert model.lm_head.weight.data_ptr() == model.wte.weight.data_ptr()


def test_greedy_generation_is_the_same_with_and_without_the_kv_cache():
    model = _model()
    prompt = torch.randint(50, (5,)).tolist()
    # 40 new tokens on a 16-token context: the window slides several times.
    cached = [
        t for t, _ in sample_ids(model, prompt, SampleConfig(temperature=0, max_new_tokens=40))
    ]
    plain = [
        t
        for t, _ in sample_ids(
            model, prompt, SampleConfig(temperature=0, max_new_tokens=40, use_cache=False)
        )
    ]
    assert cached == plain


def test_kv_cache_logits_match_a_full_forward():
    from engine.model.gpt import KVCache

    model = _model()
    idx = torch.randint(50, (1, 10))
    cache = KVCache(model.config, 1, "cpu", torch.float32)
    model.next_logits(idx[:, :6], cache)
    stepwise = [model.next_logits(idx[:, i : i + 1], cache) for i in range(6, 10)]
    full, _ = model(idx)
    for offset, logits in enumerate(stepwise):
        assert torch.allclose(logits[0], full[0, 6 + offset], atol=1e-5)


def test_a_prompt_longer_than_the_context_slides(tiny):
    trainer = Trainer.create(tiny)
    long_prompt = " ".join(["oh my love"] * 20)  # 60 tokens, block_size 16
    encoding, tokens = trainer.generate(long_prompt, SampleConfig(max_new_tokens=5, temperature=0))
    assert len(encoding.ids) == 60
    assert len(list(tokens)) == 5


def test_sampling_is_seeded_and_respects_top_k(tiny):
    trainer = Trainer.create(tiny)
    config = SampleConfig(max_new_tokens=12, temperature=1.0, top_k=3, seed=7, top_n=3)
    first = list(trainer.generate("oh", config)[1])
    second = list(trainer.generate("oh", config)[1])
    assert [t.token_id for t in first] == [t.token_id for t in second]
    for token in first:
        assert token.token_id in {c.token_id for c in token.candidates}
        assert abs(sum(c.prob for c in token.candidates) - 1.0) < 1e-4  # only 3 left after top-k


def test_empty_prompt_starts_at_a_line_start(tiny):
    trainer = Trainer.create(tiny)
    encoding, tokens = trainer.generate("", SampleConfig(max_new_tokens=4))
    assert encoding.ids == [] and len(list(tokens)) == 4


def test_attention_capture_shape_and_unknown_words(tiny):
    trainer = Trainer.create(tiny)
    attention = trainer.attention("oh my zebra love")
    assert attention.shape == (2, 2, 4, 4)
    assert attention.tokens == ["oh", "my", "<unk>", "love"]
    assert attention.unknown == ["zebra"]
    assert abs(sum(attention.row(1, 0, 3)) - 1) < 1e-5
    assert attention.row(0, 1, 0)[1:] == [0.0, 0.0, 0.0]


def test_attention_lists_no_unknown_word_past_the_context_cut(tiny):
    trainer = Trainer.create(tiny)
    block_size = tiny.model.block_size
    attention = trainer.attention("oh zebra " + "my " * block_size + "xylophone")
    assert attention.truncated and attention.unknown == ["zebra"]


@pytest.mark.parametrize("bias", [False, True])
def test_the_decoder_gives_next_logits_own_logits(bias):
    from engine.model.gpt import Decoder, KVCache

    model = _model(bias=bias)
    if bias:  # fresh biases are zero: make them matter
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0, 0.5)
    idx = torch.randint(50, (1, 12))
    reference = KVCache(model.config, 1, "cpu", torch.float32)
    cache = KVCache(model.config, 1, "cpu", torch.float32)
    with torch.no_grad():
        model.next_logits(idx[:, :4], reference)
        model.next_logits(idx[:, :4], cache)
        decoder = Decoder(model, cache)
        for i in range(4, 12):
            expected = model.next_logits(idx[:, i : i + 1], reference)[0]
            assert torch.allclose(decoder.step(int(idx[0, i])), expected, atol=1e-5)


def test_top_p_keeps_the_smallest_prefix_that_reaches_p():
    from engine.model.generate import _distribution

    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    kept = _distribution(logits, SampleConfig(top_p=0.7)).nonzero().flatten().tolist()
    assert kept == [0, 1]  # 0.5 alone is short of 0.7; with 0.3 it reaches 0.8
    probs = _distribution(logits, SampleConfig(top_p=0.9))
    assert probs.nonzero().flatten().tolist() == [0, 1, 2]
    assert torch.allclose(probs.sum(), torch.tensor(1.0))  # renormalised
    assert torch.allclose(probs[:3], torch.tensor([0.5, 0.3, 0.15]) / 0.95)
    only_top = _distribution(logits, SampleConfig(top_p=0.01))
    assert only_top.nonzero().flatten().tolist() == [0]  # always at least one token
