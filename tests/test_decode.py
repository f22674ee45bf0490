"""The static decoder (engine/model/decode.py) that CUDA replays as graphs, stepped eagerly on the
CPU: the same tokens as the eager decoder, with weights that change between generations."""

from __future__ import annotations

import pytest
import torch

from engine.contract.config import ModelConfig, SampleConfig
from engine.model import decode, generate
from engine.model.generate import sample_ids
from engine.model.gpt import GPT

GREEDY = SampleConfig(temperature=0, max_new_tokens=40)  # 40 on a 16-token context: slides


def _model() -> GPT:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32, bias=True)
    model = GPT(config).eval()
    with torch.no_grad():  # fresh biases are zero: make them matter
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.5)
    return model


@pytest.fixture
def static(monkeypatch):
    """sample_ids on the static path, as on CUDA; the decoders it opened, to inspect."""
    opened = []

    def open_static(model):
        opened.append(decode.open_decoder(model, static=True))
        return opened[-1]

    monkeypatch.setattr(generate, "open_decoder", open_static)
    return opened


def _greedy(model: GPT, prompt: list[int], config: SampleConfig = GREEDY) -> list[int]:
    return [token for token, _ in sample_ids(model, prompt, config)]


def test_the_static_path_gives_the_eager_tokens(static):
    model = _model()
    prompt = [3, 1, 4, 1, 5]
    with_static = _greedy(model, prompt)
    assert isinstance(static[0], decode.StaticDecoder)
    plain = _greedy(model, prompt, SampleConfig(temperature=0, max_new_tokens=40, use_cache=False))
    assert with_static == plain


def test_the_static_decoder_is_kept_and_follows_the_weights_between_generations(static):
    model = _model()
    prompt = [7, 2]
    first = _greedy(model, prompt)
    with torch.no_grad():  # what training does between two samples: parameters change in place
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    second = _greedy(model, prompt)
    assert static[0] is static[1]  # the same buffers (on CUDA: the same graphs)
    assert second != first
    uncached = SampleConfig(temperature=0, max_new_tokens=40, use_cache=False)
    assert second == _greedy(model, prompt, uncached)


def test_two_generations_at_once_each_get_their_own_cache(static):
    model = _model()
    first = sample_ids(model, [1, 2, 3], GREEDY)
    second = sample_ids(model, [9, 8], GREEDY)
    interleaved = [(next(first)[0], next(second)[0]) for _ in range(40)]
    assert isinstance(static[0], decode.StaticDecoder)
    assert isinstance(static[1], decode.EagerDecoder)  # the static one was busy
    assert [a for a, _ in interleaved] == _greedy(model, [1, 2, 3])
    assert [b for _, b in interleaved] == _greedy(model, [9, 8])


def test_a_token_given_as_a_device_tensor_steps_like_an_id():
    from engine.model.gpt import Decoder, KVCache

    model = _model()
    caches = [KVCache(model.config, 1, "cpu", torch.float32) for _ in range(2)]
    decoders = [Decoder(model, cache) for cache in caches]
    with torch.no_grad():
        for token in (4, 8, 15, 16, 23, 42):
            by_id = decoders[0].step(token)
            by_tensor = decoders[1].step(torch.tensor([token]))
            assert torch.equal(by_id, by_tensor)
