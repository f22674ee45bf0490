"""Ablation: knock out a head, a block's attention or its MLP, and measure what changes.

The weights are never touched. A part is knocked out by a hook on the forward pass (a head: its
slice of the input to the attention's output projection; attention and MLP: their output),
replaced with zero or with its mean output over the val batches, and the hook is removed before
anything else runs. The fast paths that bypass modules (the KV-cached decoder) never see a hook,
and nothing here uses them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.nn import functional as F

from engine.contract.errors import EngineError
from engine.contract.experiments import (
    Ablation,
    AblationMethod,
    AblationPart,
    AblationResult,
    HeadImportance,
    ImportanceTable,
)
from engine.contract.outputs import Candidate
from engine.data.dataset import EvalBatch
from engine.data.tokenizer import Tokenizer
from engine.lens.evaluation import EvalTally
from engine.model.gpt import GPT

TOP = 5  # candidates shown at the selected position
Means = dict[tuple[AblationPart, int], torch.Tensor]  # (part, layer) -> its mean output (C,)


def check(model: GPT, ablation: Ablation) -> None:
    """Refuse an ablation of a part the model does not have, in a line a person can act on."""
    m = model.config
    if not 0 <= ablation.layer < m.n_layer:
        raise EngineError(f"there is no block {ablation.layer}: the model has {m.n_layer}")
    if ablation.part is AblationPart.HEAD and not (
        ablation.head is not None and 0 <= ablation.head < m.n_head
    ):
        raise EngineError(f"there is no head {ablation.head}: each block has {m.n_head}")


@torch.no_grad()
def mean_outputs(model: GPT, batches: list[EvalBatch]) -> Means:
    """Each part's mean output over every position of the batches: what mean ablation puts in its
    place (heads read their slice of the attention's)."""
    sums: dict[tuple[AblationPart, int], torch.Tensor] = {}
    count = 0
    hooks = []

    def adder(key: tuple[AblationPart, int]):
        def hook(module, args, output=None):
            value = args[0] if output is None else output
            total = value.float().sum((0, 1))
            sums[key] = sums[key] + total if key in sums else total

        return hook

    for layer, block in enumerate(model.blocks):
        hooks.append(block.attn.c_proj.register_forward_pre_hook(adder((AblationPart.HEAD, layer))))
        hooks.append(block.attn.register_forward_hook(adder((AblationPart.ATTENTION, layer))))
        hooks.append(block.mlp.register_forward_hook(adder((AblationPart.MLP, layer))))
    try:
        with _evaluating(model):
            for batch in batches:
                model(batch.x)
                count += batch.x.numel()
    finally:
        for hook in hooks:
            hook.remove()
    return {key: total / max(1, count) for key, total in sums.items()}


@contextlib.contextmanager
def ablated(model: GPT, ablation: Ablation, means: Means | None = None) -> Iterator[None]:
    """Within the block, `ablation`'s part of `model` is knocked out (the weights untouched)."""
    check(model, ablation)
    block = model.blocks[ablation.layer]
    mean = None
    if ablation.method is AblationMethod.MEAN:
        if means is None:
            raise EngineError("mean ablation needs the parts' mean outputs")
        mean = means[(ablation.part, ablation.layer)]
    if ablation.part is AblationPart.HEAD:
        hs = model.config.head_size
        cut = slice(ablation.head * hs, (ablation.head + 1) * hs)  # type: ignore[operator]

        def head_hook(module, args):
            y = args[0].clone()  # (B, T, C): the heads' outputs side by side
            y[..., cut] = 0.0 if mean is None else mean[cut].to(y.dtype)
            return (y, *args[1:])

        handle = block.attn.c_proj.register_forward_pre_hook(head_hook)
    else:

        def part_hook(module, args, output):
            if mean is None:
                return torch.zeros_like(output)
            return mean.to(output.dtype).expand_as(output)

        module = block.attn if ablation.part is AblationPart.ATTENTION else block.mlp
        handle = module.register_forward_hook(part_hook)
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def _evaluating(model: GPT) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@torch.no_grad()
def measure(model: GPT, batches: list[EvalBatch]) -> tuple[float, float | None]:
    """(loss, a task's accuracy or None) over the batches, as an eval counts them."""
    tally = EvalTally()
    with _evaluating(model):
        for batch in batches:
            logits, _ = model(batch.x)
            tally.add(logits.float(), batch)
    return tally.loss(), tally.accuracy()


@torch.no_grad()
def _text_logits(model: GPT, ids: list[int]) -> torch.Tensor:
    idx = torch.tensor([ids], device=model.wte.weight.device)
    with _evaluating(model):
        logits, _ = model(idx)
    return logits[0].float()  # (T, vocab)


def _text_loss(logits: torch.Tensor, ids: list[int]) -> float:
    """The mean loss of logits (T, vocab) on the tokens of `ids` that follow each position."""
    targets = torch.tensor(ids[1 : len(logits) + 1], device=logits.device)
    if not len(targets):
        return float("nan")
    return F.cross_entropy(logits[: len(targets)], targets).item()


def _candidates(tokenizer: Tokenizer, probs: torch.Tensor) -> tuple[Candidate, ...]:
    values, ids = torch.topk(probs, min(TOP, probs.numel()))
    return tuple(
        Candidate(i, tokenizer.token_text(i), p)
        for p, i in zip(values.tolist(), ids.tolist(), strict=True)
    )


def ablate(
    model: GPT,
    tokenizer: Tokenizer,
    ablation: Ablation,
    batches: list[EvalBatch],
    ids: list[int],
    position: int,
    step: int = 0,
) -> AblationResult:
    """The model with and without `ablation`'s part: val loss (and a task's accuracy) over the
    batches, the loss on the text `ids`, and the candidates after its token at `position`
    (negative: from the end of what the model reads, block_size tokens at most)."""
    check(model, ablation)
    if not ids:
        raise EngineError("the text has no tokens to measure")
    # The model reads block_size tokens; one more is the last one's target (modadd's "a b = c"
    # has its answer there).
    ids = ids[: model.config.block_size + 1]
    inputs = ids[: model.config.block_size]
    if not -len(inputs) <= position < len(inputs):
        raise EngineError(f"position {position} is outside the text's {len(inputs)} tokens")
    position %= len(inputs)
    means = mean_outputs(model, batches) if ablation.method is AblationMethod.MEAN else None
    val = measure(model, batches)
    logits = _text_logits(model, inputs)
    with ablated(model, ablation, means):
        val_ablated = measure(model, batches)
        logits_ablated = _text_logits(model, inputs)
    probs, probs_ablated = (F.softmax(each[position], -1) for each in (logits, logits_ablated))
    actual = ablated_actual = None
    if position + 1 < len(ids):
        following = ids[position + 1]
        text = tokenizer.token_text(following)
        actual = Candidate(following, text, probs[following].item())
        ablated_actual = Candidate(following, text, probs_ablated[following].item())
    return AblationResult(
        ablation=ablation,
        step=step,
        val_loss=val[0],
        ablated_val_loss=val_ablated[0],
        probe_loss=_text_loss(logits, ids),
        ablated_probe_loss=_text_loss(logits_ablated, ids),
        tokens=tuple(tokenizer.token_text(i) for i in ids),
        position=position,
        candidates=_candidates(tokenizer, probs),
        ablated_candidates=_candidates(tokenizer, probs_ablated),
        actual=actual,
        ablated_actual=ablated_actual,
        val_accuracy=val[1],
        ablated_val_accuracy=val_ablated[1],
    )


def head_importance(
    model: GPT, batches: list[EvalBatch], method: AblationMethod, step: int = 0
) -> ImportanceTable:
    """Every head ablated alone in turn: the val loss it costs, most important first."""
    means = mean_outputs(model, batches) if method is AblationMethod.MEAN else None
    base, _ = measure(model, batches)
    rows = []
    for layer in range(model.config.n_layer):
        for head in range(model.config.n_head):
            with ablated(model, Ablation(AblationPart.HEAD, layer, head, method), means):
                loss, _ = measure(model, batches)
            rows.append(HeadImportance(layer, head, loss, loss - base))
    rows.sort(key=lambda row: (-row.increase, row.layer, row.head))
    return ImportanceTable(method, step, base, tuple(rows))
