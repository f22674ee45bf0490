"""What a learner asks of the model between training steps: the model as it was at a past step
(the nearest kept one), generation, attention, the logit lens and the embedding map, and the
experiments (ablations, head importance, the prediction game).

A base class of the Trainer: the loop (trainer.py) trains, this only looks, and never changes
the weights it looks at.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from engine.contract.config import RunConfig, SampleConfig
from engine.contract.experiments import (
    Ablation,
    AblationMethod,
    AblationResult,
    GamePassage,
    GuessResult,
    ImportanceTable,
)
from engine.contract.outputs import AttentionMap, GeneratedToken
from engine.contract.snapshots import EmbeddingMap, LogitLens
from engine.data.dataset import Dataset, EvalBatch
from engine.data.tokenizer import Encoding, Tokenizer
from engine.lens import ablation
from engine.lens.attention import capture_attention
from engine.lens.circuits import repeated_probe
from engine.lens.embedding_map import embedding_map, token_counts
from engine.lens.guess import game_passage, score_guess
from engine.lens.logit_lens import logit_lens
from engine.model.generate import stream_tokens
from engine.model.gpt import GPT
from engine.training.checkpoint import load_weights
from engine.training.kept import kept_path, nearest_kept


class Looking:
    """The Trainer's look-only methods; the Trainer provides the attributes declared here."""

    config: RunConfig
    model: GPT
    tokenizer: Tokenizer
    data: Dataset
    device: torch.device
    run_dir: Path | None
    _past: tuple[GPT, int] | None  # the last past model asked for (model_at)
    _last_map: EmbeddingMap | None

    step: int  # a property of the Trainer's (stepping.py)

    @functools.cached_property
    def token_counts(self) -> np.ndarray:
        """How often each token occurs in the training split (the embedding map's labels)."""
        return token_counts(self.data.train, self.config.model.vocab_size)

    def eval_batches(self, split: str) -> Iterator[EvalBatch]:
        """The fixed batches an eval measures `split` on (the same at every eval)."""
        m, t = self.config.model, self.config.train
        return self.data.eval_batches(
            split, t.batch_size, m.block_size, t.eval_batches, t.seed + 1, self.device
        )

    @functools.cached_property
    def val_batches(self) -> list[EvalBatch]:
        """The eval's val batches, kept: every experiment measures on them."""
        return list(self.eval_batches("val"))

    @functools.cached_property
    def probe_ids(self) -> torch.Tensor:
        """The text the heads are scored on at every eval: the task's own rows, or the repeated
        random-token probe."""
        m = self.config.model
        own = self.data.head_probe(m.block_size)
        return own if own is not None else repeated_probe(m.vocab_size, m.block_size)

    def model_at(self, step: int | None) -> tuple[GPT, int]:
        """The model as it was at `step` (None: now), and the step its weights are from: the
        live model, or the nearest kept past one (engine/training/kept.py)."""
        if step is None or step >= self.step or self.run_dir is None:
            return self.model, self.step
        kept = nearest_kept(self.run_dir, step)
        if kept is None or kept >= self.step:
            return self.model, self.step
        if self._past is None or self._past[1] != kept:
            past = GPT(self.config.model)
            load_weights(self.run_dir, past, kept_path(self.run_dir, kept))
            self._past = (past.to(self.device).eval(), kept)
        return self._past

    def generate(
        self,
        prompt: str,
        config: SampleConfig | None = None,
        top_logits: int = 0,
        at_step: int | None = None,
    ) -> tuple[Encoding, Iterator[GeneratedToken]]:
        """The prompt's encoding (with any unknown words) and a stream of generated tokens, each
        with `top_logits` raw logits to redraw its sampling pipeline (see stream_tokens), from
        the model as it was at `at_step` (see model_at)."""
        encoding = self.tokenizer.encode(prompt)
        config = config or self.config.sample
        model, _ = self.model_at(at_step)
        tokens = stream_tokens(model, self.tokenizer, encoding.ids, config, top_logits)
        return encoding, tokens

    def attention(self, text: str, at_step: int | None = None) -> AttentionMap:
        model, step = self.model_at(at_step)
        return capture_attention(model, self.tokenizer, text, step)

    def logit_lens(self, text: str, at_step: int | None = None) -> LogitLens:
        """What each block's residual stream would predict on `text` (see model_at for at_step)."""
        model, step = self.model_at(at_step)
        return logit_lens(model, self.tokenizer, text, step)

    def embedding_map(self) -> EmbeddingMap:
        """The token embeddings' map now, turned to agree with the last one made."""
        self._last_map = embedding_map(
            self.model, self.tokenizer, self.token_counts, self.step, self._last_map
        )
        return self._last_map

    def ablate(self, part: Ablation, text: str, position: int = -2) -> AblationResult:
        """The live model with and without one part: val loss, the loss on `text` and the
        candidates after its token at `position` (negative: from the end). Weights untouched."""
        ids = self.tokenizer.encode(text).ids
        return ablation.ablate(
            self.model, self.tokenizer, part, self.val_batches, ids, position, self.step
        )

    def head_importance(self, method: AblationMethod) -> ImportanceTable:
        """Every head of the live model ablated alone in turn, most costly first."""
        return ablation.head_importance(self.model, self.val_batches, method, self.step)

    def game_passage(self, number: int) -> GamePassage:
        """Validation passage `number` of the prediction game."""
        passage = self.data.passage(number, self.config.model.block_size)
        return game_passage(self.tokenizer, passage, number)

    def guess(self, number: int, position: int, guess: str) -> GuessResult:
        """A learner's guess of passage `number`'s token at `position`, scored with the live
        model's."""
        passage = self.game_passage(number)
        return score_guess(self.model, self.tokenizer, passage, position, guess, self.step)
