"""Where the model is wrong: per-token losses on a fixed validation passage."""

from __future__ import annotations

import pytest
import torch

from engine import Trainer
from engine.lens.surprise import passage_losses
from tests.conftest import tiny_config


def test_per_token_losses_average_to_the_models_loss_and_guesses_are_the_argmax(corpus):
    trainer = Trainer.create(tiny_config(corpus, max_steps=3))
    for _ in trainer.events():
        pass
    model, val = trainer.model, trainer.data.val
    result = passage_losses(model, trainer.tokenizer, val, step=trainer.step)
    T = model.config.block_size
    assert len(result.tokens) == T + 1 and len(result.losses) == len(result.expected) == T
    assert result.token_ids == tuple(val[: T + 1].tolist()) and result.step == 3
    x, y = val[None, :T].long(), val[None, 1 : T + 1].long()
    model.eval()
    with torch.no_grad():
        logits, loss = model(x, y)
    model.train()
    assert result.mean == pytest.approx(float(loss), rel=1e-5)
    assert sum(result.losses) / T == pytest.approx(result.mean, rel=1e-6)
    best = logits[0].argmax(-1).tolist()
    for position, guesses in enumerate(result.expected):
        assert len(guesses) == 3 and guesses[0].token_id == best[position]
        assert guesses[0].prob >= guesses[1].prob >= guesses[2].prob
    assert passage_losses(model, trainer.tokenizer, val).losses == result.losses  # fixed passage
    trainer.close()
