"""The sampling pipeline redrawn in plain Python from a generated token's TopLogits (no torch).

The same stages as engine.model.generate.distribution: raw (temperature 1), after temperature, after
top-k, after top-p (renormalised), so a client can show what other settings would do to a step
without generating again.

Where it is approximate: only the top M logits travel. The tokens outside them are folded into one
"rest" mass, treated as (vocab - M) tokens of equal logit (the one that gives their true total at
temperature 1). So the rest's share after a temperature other than 1, and after a top-k larger than
M or a top-p the top M do not reach, is an estimate. Everything about the top M tokens is exact
when top-k <= M and the top M reach top-p; with a vocabulary of at most M tokens there is no rest
and the whole pipeline is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.contract.outputs import TopLogits

STAGES = ("raw", "temperature", "top-k", "top-p")


@dataclass(frozen=True)
class SamplingStage:
    name: str  # one of STAGES
    probs: tuple[float, ...]  # over TopLogits.token_ids, in that order
    rest: float  # the mass of every token outside the top M (0 when there are none)
    kept: int  # tokens left with a chance of being drawn, the rest's included
    active: bool  # this stage changed something; an inactive one repeats the stage before
    note: str  # for a person: what the setting does here, or what turns it off
    cutoff: float | None = None  # top-k: the k-th logit after temperature; top-p: the
    # probability of the last token kept (None where not known or not active)


@dataclass(frozen=True)
class SamplingPipeline:
    stages: tuple[SamplingStage, ...]  # in STAGES order
    greedy: bool  # temperature 0: the likeliest token is taken, whatever the distribution
    exact: bool  # no rest: the vocabulary fits in the logits carried

    @property
    def final(self) -> SamplingStage:
        return self.stages[-1]


def _normalised(weights: list[float], rest: float) -> tuple[list[float], float]:
    total = sum(weights) + rest
    return [w / total for w in weights], rest / total


def sampling_pipeline(
    top: TopLogits, temperature: float, top_k: int = 0, top_p: float = 1.0
) -> SamplingPipeline:
    """Each stage's distribution for these settings, from one step's logits."""
    logits = list(top.logits)
    M, V = len(logits), top.vocab_size
    n_rest = V - M
    probs = [math.exp(x - top.logsumexp) for x in logits]
    rest = max(0.0, 1.0 - sum(probs)) if n_rest else 0.0
    # One logit standing for each token outside the top M, with their true total at temperature 1.
    rest_logit = top.logsumexp + math.log(rest / n_rest) if rest > 0 else -math.inf
    raw = SamplingStage("raw", tuple(probs), rest, V, False, "the model's own distribution")
    if temperature == 0:
        off = "not used: temperature 0 is greedy"
        stages = [
            raw,
            SamplingStage("temperature", raw.probs, rest, 1, True, "0: greedy, takes the top"),
            SamplingStage("top-k", raw.probs, rest, 1, False, off),
            SamplingStage("top-p", raw.probs, rest, 1, False, off),
        ]
        return SamplingPipeline(tuple(stages), True, n_rest == 0)

    top_logit = max(logits)
    weights = [math.exp((x - top_logit) / temperature) for x in logits]
    rest_weight = n_rest * math.exp((rest_logit - top_logit) / temperature) if rest else 0.0
    probs, rest = _normalised(weights, rest_weight)
    note = "1 is off" if temperature == 1 else f"logits ÷ {temperature:g}"
    tempered = SamplingStage("temperature", tuple(probs), rest, V, temperature != 1, note)

    if 0 < top_k < V:
        if top_k <= M:
            kth = sorted(logits, reverse=True)[top_k - 1]
            weights = [w if x >= kth else 0.0 for w, x in zip(weights, logits, strict=True)]
            rest_weight, cutoff = 0.0, kth / temperature
        else:  # keeps every top-M token and (we assume) an even share of the rest
            rest_weight *= (top_k - M) / n_rest
            cutoff = None
        probs, rest = _normalised(weights, rest_weight)
        kept = sum(p > 0 for p in probs) + (top_k - M if rest else 0)
        after_k = SamplingStage("top-k", tuple(probs), rest, kept, True, f"k = {top_k}", cutoff)
    else:
        after_k = SamplingStage("top-k", tempered.probs, rest, V, False, "0 is off")

    if top_p < 1.0:
        order = sorted(range(M), key=lambda i: -probs[i])
        keep, mass, cutoff = set(), 0.0, None
        for i in order:  # the smallest prefix whose mass reaches top_p (at least one token)
            if mass >= top_p or probs[i] == 0:
                break
            keep.add(i)
            mass, cutoff = mass + probs[i], probs[i]
        rest_kept = rest if mass < top_p else 0.0  # not reached within M: the rest stays, whole
        weights = [p if i in keep else 0.0 for i, p in enumerate(probs)]
        probs, rest = _normalised(weights, rest_kept)
        kept = len(keep) + (after_k.kept - M if rest else 0)
        after_p = SamplingStage("top-p", tuple(probs), rest, kept, True, f"p = {top_p:g}", cutoff)
    else:
        after_p = SamplingStage("top-p", *_same_as(after_k), False, "1 is off")
    return SamplingPipeline((raw, tempered, after_k, after_p), False, n_rest == 0)


def _same_as(stage: SamplingStage) -> tuple[tuple[float, ...], float, int]:
    return stage.probs, stage.rest, stage.kept
