"""The prediction game's engine side: a learner's guess of the next token, read as a token of the
vocabulary, scored against the model's own guess.

A guess is typed text, and every tokenizer cuts text its own way: a word ("love"), a character
("e"), a number ("17"), or for BPE a piece that may begin with a space (" love"). So a guess is
matched to the vocabulary by how tokens read (spaces at the ends ignored, and case too where
the tokenizer ignores it), the likeliest match counting; failing that, by its encoding's first
token.
"""

from __future__ import annotations

import weakref

import torch
from torch.nn import functional as F

from engine.contract.display import token_label
from engine.contract.errors import EngineError
from engine.contract.experiments import GamePassage, GuessResult
from engine.contract.outputs import Candidate
from engine.data.dataset import Passage
from engine.data.tokenizer import UNK, Tokenizer, WordTokenizer
from engine.model.gpt import GPT


def game_passage(tokenizer: Tokenizer, passage: Passage, number: int) -> GamePassage:
    return GamePassage(
        number=number,
        tokens=tuple(tokenizer.token_text(i) for i in passage.ids),
        token_ids=passage.ids,
        asked=passage.asked,
    )


def _normal(text: str, fold: bool) -> str:
    text = text.strip()
    return text.lower() if fold else text


# Per tokenizer: each way a token reads (as is, trimmed, as displayed) -> the ids that read so.
# Built once: GPT-2 has 50,257 tokens to decode.
_READINGS: weakref.WeakKeyDictionary[Tokenizer, dict[str, list[int]]] = weakref.WeakKeyDictionary()


def _readings(tokenizer: Tokenizer, fold: bool) -> dict[str, list[int]]:
    if tokenizer not in _READINGS:
        readings: dict[str, list[int]] = {}
        for i in range(tokenizer.vocab_size):
            text = tokenizer.token_text(i)
            if text == UNK:
                continue
            for key in {text, _normal(text, fold), _normal(token_label(text), fold)}:
                readings.setdefault(key, []).append(i)
        _READINGS[tokenizer] = readings
    return _READINGS[tokenizer]


def read_guess(tokenizer: Tokenizer, guess: str, probs: torch.Tensor) -> tuple[int | None, str]:
    """The token id a typed guess stands for (None if none), and a note on how it was read."""
    fold = isinstance(tokenizer, WordTokenizer)  # it lowercases all text
    wanted = _normal(guess, fold)
    if guess and not wanted:  # only spaces: a space or line break token, as typed
        wanted = guess
    if wanted:
        matches = [i for i in _readings(tokenizer, fold).get(wanted, []) if i < probs.numel()]
        if matches:
            return max(matches, key=lambda i: probs[i].item()), ""
    encoding = tokenizer.encode(guess)
    if not encoding.ids or encoding.unknown:
        return None, f"{guess!r} is not in the model's vocabulary"
    note = "" if len(encoding.ids) == 1 else "scored on its first token"
    return encoding.ids[0], note


@torch.no_grad()
def score_guess(
    model: GPT,
    tokenizer: Tokenizer,
    passage: GamePassage,
    position: int,
    guess: str,
    step: int = 0,
) -> GuessResult:
    """The learner's `guess` of passage token `position` (one of its asked positions), and the
    model's probability for it, its own top choice and whether each was right."""
    if position not in passage.asked:
        raise EngineError(f"position {position} is not one the game asks about")
    ids = list(passage.token_ids[:position])[-model.config.block_size :]
    idx = torch.tensor([ids], device=model.wte.weight.device)
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(idx)
    finally:
        model.train(was_training)
    probs = F.softmax(logits[0, -1].float(), dim=-1)  # (vocab,)
    chosen, note = read_guess(tokenizer, guess, probs)
    actual_id = passage.token_ids[position]
    top_id = int(probs.argmax())
    rank = None
    if chosen is not None:
        rank = int((probs > probs[chosen]).sum()) + 1
    return GuessResult(
        number=passage.number,
        position=position,
        guess=guess,
        guess_token=tokenizer.token_text(chosen) if chosen is not None else "",
        guess_prob=probs[chosen].item() if chosen is not None else 0.0,
        guess_rank=rank,
        actual=Candidate(actual_id, tokenizer.token_text(actual_id), probs[actual_id].item()),
        top=Candidate(top_id, tokenizer.token_text(top_id), probs[top_id].item()),
        correct=chosen == actual_id,
        model_correct=top_id == actual_id,
        step=step,
        note=note,
    )
