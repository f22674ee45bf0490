"""Ablations (engine/lens/ablation.py) on a model built by hand, where one head carries the answer,
and the prediction game's scoring (engine/lens/guess.py)."""

from __future__ import annotations

import math

import pytest
import torch

from engine import Ablation, AblationMethod, AblationPart, EngineError, ModelConfig, Trainer
from engine.data.dataset import EvalBatch, Passage
from engine.data.tokenizer import CharTokenizer, WordTokenizer
from engine.lens.ablation import ablate, ablated, head_importance, measure
from engine.lens.guess import game_passage, read_guess, score_guess
from engine.model.gpt import GPT

V, C, HS = 4, 8, 4  # 4 tokens, two heads of 4 channels


def copying_model() -> GPT:
    """One block whose head 0 averages the tokens so far into channels 4-7, which alone the head
    reads: on a row of one repeated token the model predicts that token, through head 0 only.
    Head 1, the MLP and the position table add nothing."""
    config = ModelConfig(block_size=4, n_layer=1, n_head=2, n_embd=C, vocab_size=V, tie_head=False)
    model = GPT(config)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.zero_()
        model.wte.weight[:, :V] = torch.eye(V)  # token t is channel t
        attention = model.blocks[0].attn
        # q and k stay zero (even attention over the tokens so far); head 0's values copy the
        # token channels, and the output projection writes them to channels 4-7.
        attention.c_attn.weight[2 * C : 2 * C + HS, :V] = torch.eye(V)
        attention.c_proj.weight[V:, :HS] = torch.eye(HS)
        model.lm_head.weight[:, V:] = 10 * torch.eye(V)
    return model.eval()


def rows_of_one_token() -> list[EvalBatch]:
    x = torch.arange(V)[:, None].repeat(1, 4)  # (V, 4): row t is t t t t
    return [EvalBatch(x, x.clone())]


def weights(model: GPT) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in model.state_dict().items()}


def test_ablating_the_head_that_carries_the_answer_raises_the_loss():
    model, batches = copying_model(), rows_of_one_token()
    intact, _ = measure(model, batches)
    head = Ablation(AblationPart.HEAD, 0, 0)
    with ablated(model, head):
        without, _ = measure(model, batches)
    with ablated(model, Ablation(AblationPart.HEAD, 0, 1)):
        without_other, _ = measure(model, batches)
    assert intact < 0.5
    assert without == pytest.approx(math.log(V), abs=1e-3)  # nothing left to go on: uniform
    assert without_other == pytest.approx(intact, abs=1e-6)  # head 1 did nothing
    assert measure(model, batches)[0] == pytest.approx(intact)  # the hook is gone after


@pytest.mark.parametrize("part", [AblationPart.ATTENTION, AblationPart.MLP])
def test_a_whole_attention_matters_and_an_idle_mlp_does_not(part):
    model, batches = copying_model(), rows_of_one_token()
    intact, _ = measure(model, batches)
    with ablated(model, Ablation(part, 0)):
        without, _ = measure(model, batches)
    if part is AblationPart.ATTENTION:
        assert without > intact + 1
    else:
        assert without == pytest.approx(intact, abs=1e-6)


def test_mean_ablation_takes_away_what_the_head_says_about_this_text():
    model, batches = copying_model(), rows_of_one_token()
    result = ablate(
        model, WordTokenizer(["a", "b", "c", "d"]),
        Ablation(AblationPart.HEAD, 0, 0, AblationMethod.MEAN), batches, [2, 2, 2, 2], 1,
    )  # fmt: skip
    assert result.ablated_val_loss > result.val_loss + 1
    assert result.candidates[0].text == "c" and result.actual is not None
    assert result.ablated_actual is not None and result.ablated_actual.prob < result.actual.prob
    assert result.ablated_probe_loss > result.probe_loss


def test_ablation_and_head_importance_leave_the_weights_bit_identical():
    model, batches = copying_model(), rows_of_one_token()
    before = weights(model)
    tokenizer = WordTokenizer(["a", "b", "c", "d"])
    for part, head in (
        (AblationPart.HEAD, 1),
        (AblationPart.ATTENTION, None),
        (AblationPart.MLP, None),
    ):
        for method in AblationMethod:
            ablate(model, tokenizer, Ablation(part, 0, head, method), batches, [0, 0, 1], -1)
    head_importance(model, batches, AblationMethod.MEAN)
    after = weights(model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_head_importance_puts_the_head_that_carries_the_answer_first():
    model = copying_model()
    table = head_importance(model, rows_of_one_token(), AblationMethod.ZERO)
    assert [(row.layer, row.head) for row in table.heads] == [(0, 0), (0, 1)]
    assert table.heads[0].increase > 1 and table.heads[1].increase == pytest.approx(0, abs=1e-6)
    assert table.heads[0].ablated_loss == pytest.approx(table.val_loss + table.heads[0].increase)


def test_an_ablation_of_a_part_the_model_lacks_is_refused():
    model = copying_model()
    with pytest.raises(EngineError, match="no block 3"):
        with ablated(model, Ablation(AblationPart.MLP, 3)):
            pass
    with pytest.raises(EngineError, match="no head 2"):
        with ablated(model, Ablation(AblationPart.HEAD, 0, 2)):
            pass


def test_a_guess_is_read_as_the_vocabulary_reads_it():
    words = WordTokenizer(["<unk>", "oh", "love", "17"])
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    assert read_guess(words, " Love ", probs) == (2, "")
    assert read_guess(words, "17", probs) == (3, "")
    chosen, note = read_guess(words, "zebra", probs)
    assert chosen is None and "vocabulary" in note
    chars = CharTokenizer(["<unk>", " ", "a", "b"])
    assert read_guess(chars, "a", probs)[0] == 2
    assert read_guess(chars, " ", probs)[0] == 1  # a space is a character like any other
    assert read_guess(chars, "ab", probs) == (2, "scored on its first token")


def test_the_game_scores_the_guess_and_the_model_against_the_actual_token():
    model = copying_model()
    tokenizer = WordTokenizer(["a", "b", "c", "d"])
    passage = game_passage(tokenizer, Passage((3, 3, 3, 3), (2, 3)), number=5)
    right = score_guess(model, tokenizer, passage, 2, "d", step=40)
    wrong = score_guess(model, tokenizer, passage, 3, "a")
    assert right.correct and right.model_correct and right.guess_rank == 1 and right.step == 40
    assert right.actual.text == "d" and right.top.text == "d"
    assert not wrong.correct and wrong.model_correct and wrong.guess_rank is not None
    assert wrong.guess_prob < right.guess_prob
    with pytest.raises(EngineError, match="not one the game asks"):
        score_guess(model, tokenizer, passage, 1, "d")


def test_a_trainer_ablates_its_live_model_without_changing_it(tiny):
    trainer = Trainer.create(tiny)
    before = weights(trainer.model)
    result = trainer.ablate(Ablation(AblationPart.HEAD, 1, 0, AblationMethod.MEAN), "oh my love")
    table = trainer.head_importance(AblationMethod.ZERO)
    passage = trainer.game_passage(2)
    guess = trainer.guess(2, passage.asked[0], "love")
    assert result.tokens == ("oh", "my", "love") and result.position == 1
    assert len(table.heads) == 4 and table.heads[0].increase >= table.heads[-1].increase
    assert guess.actual.token_id == passage.token_ids[passage.asked[0]]
    assert all(
        torch.equal(value, before[name]) for name, value in trainer.model.state_dict().items()
    )
