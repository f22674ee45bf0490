"""What the Inside view and "where the model is wrong" show: plain records, no torch.

The forward trace's stage list (names, kinds, shapes, parameter counts) is laid out here from the
model's shape alone, so the engine's trace (engine/lens/trace.py) and a test fake produce the same
list. A stage's `kind` is a stable key a client maps to a Learn entry and a colour strip.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.contract.outputs import Candidate, HeadRole

# Every stage kind, in pipeline order (a block's kinds repeat once per block). A model shows only
# those its options use: rope has no position table (so no sum) but turned queries and keys,
# qk_norm normed ones, relu2 relu_squared where GELU was.
STAGE_KINDS = (
    "tokens", "token_embedding", "position_embedding", "embedding_sum",
    "layernorm", "query", "key", "value", "normed_query", "normed_key", "rotated_query",
    "rotated_key", "scores", "causal_mask", "softmax", "weighted_values",
    "attention_projection", "residual", "mlp_up", "gelu", "relu_squared", "mlp_down",
    "logits", "probabilities", "top_candidates",
)  # fmt: skip
TOP_CANDIDATES = 8  # how many next tokens the last stage lists
NEIGHBOURS = 8  # how many nearest tokens in embedding space the embedding stage lists


@dataclass(frozen=True)
class TraceStage:
    """One step of the forward pass, seen at the selected position."""

    name: str  # for a person: "block 0 · LayerNorm 1"
    kind: str  # one of STAGE_KINDS
    layer: int | None  # the block it belongs to; None before the first and after the last
    shape: tuple[int, ...]  # the whole tensor at this stage, e.g. (T, C) or (n_head, T, T)
    params: int  # learned parameters this stage uses (0 where it only computes)
    per_head: bool  # vectors holds one vector per head, else exactly one
    vectors: tuple[tuple[float, ...], ...] = ()  # the selected position's values (rounded)
    norms: tuple[float, ...] = ()  # L2 norm of each vector (of its finite values: masked
    # scores are -inf)


@dataclass(frozen=True)
class ModelPart:
    name: str
    params: int


@dataclass(frozen=True)
class Neighbour:
    """A token near the selected one in embedding space."""

    token_id: int
    text: str
    similarity: float  # cosine similarity of the two token embeddings, in [-1, 1]


@dataclass(frozen=True)
class ForwardTrace:
    tokens: tuple[str, ...]  # the input as token texts (at most block_size of them)
    token_ids: tuple[int, ...]
    position: int  # the selected position, 0-based
    stages: tuple[TraceStage, ...]
    parts: tuple[ModelPart, ...]  # parameter count per part of the model; they sum to n_params
    n_params: int
    neighbours: tuple[Neighbour, ...] = ()  # the selected token's nearest tokens (cosine)
    candidates: tuple[Candidate, ...] = ()  # the likeliest next tokens after the position
    unknown: tuple[str, ...] = ()  # pieces of the text the vocabulary lacks
    truncated: bool = False  # the text was longer than block_size: only its start was traced
    step: int = 0  # the training step the weights come from
    roles: tuple[HeadRole, ...] = ()  # every head's role on this text, layer by layer


@dataclass(frozen=True)
class PassageLosses:
    """A fixed passage of validation text and how surprised the model is by each token."""

    tokens: tuple[str, ...]  # T + 1 token texts: the first is context only
    token_ids: tuple[int, ...]
    losses: tuple[float, ...]  # T values: losses[i] = -ln p(tokens[i + 1] | tokens[: i + 1])
    expected: tuple[tuple[Candidate, ...], ...]  # T entries: the model's top 3 guesses there
    mean: float  # the mean of losses: the model's loss on this window
    step: int = 0


@dataclass(frozen=True)
class StageSpec:
    name: str
    kind: str
    layer: int | None
    shape: tuple[int, ...]
    params: int
    per_head: bool = False


def stage_layout(
    T: int,
    vocab_size: int,
    block_size: int,
    n_layer: int,
    n_head: int,
    n_embd: int,
    bias: bool,
    *,
    rope: bool = False,
    qk_norm: bool = False,
    relu2: bool = False,
    tie_head: bool = True,
) -> list[StageSpec]:
    """The trace's stages for a model of this shape (and options) on T tokens, in pipeline order."""
    C, hs, V = n_embd, n_embd // n_head, vocab_size
    b = 1 if bias else 0
    norm = C * (1 + b)  # LayerNorm: a scale per channel (and a shift with bias)
    stages = [
        StageSpec("token ids", "tokens", None, (T,), 0),
        StageSpec("token embedding", "token_embedding", None, (T, C), V * C),
    ]
    if not rope:
        stages += [
            StageSpec("position embedding", "position_embedding", None, (T, C), block_size * C),
            StageSpec("token + position", "embedding_sum", None, (T, C), 0),
        ]
    for i in range(n_layer):
        per_head = (n_head, T, hs)
        stages += [
            StageSpec(f"block {i} · LayerNorm 1", "layernorm", i, (T, C), norm),
            StageSpec(f"block {i} · query", "query", i, per_head, C * C + b * C, True),
            StageSpec(f"block {i} · key", "key", i, per_head, C * C + b * C, True),
            StageSpec(f"block {i} · value", "value", i, per_head, C * C + b * C, True),
        ]
        if qk_norm:
            stages += [
                StageSpec(f"block {i} · query, normed", "normed_query", i, per_head, 0, True),
                StageSpec(f"block {i} · key, normed", "normed_key", i, per_head, 0, True),
            ]
        if rope:
            stages += [
                StageSpec(f"block {i} · query, turned", "rotated_query", i, per_head, 0, True),
                StageSpec(f"block {i} · key, turned", "rotated_key", i, per_head, 0, True),
            ]
        activation = ("ReLU²", "relu_squared") if relu2 else ("GELU", "gelu")
        stages += [
            StageSpec(f"block {i} · scores q·k/√{hs}", "scores", i, (n_head, T, T), 0, True),
            StageSpec(f"block {i} · causal mask", "causal_mask", i, (n_head, T, T), 0, True),
            StageSpec(f"block {i} · softmax", "softmax", i, (n_head, T, T), 0, True),
            StageSpec(f"block {i} · weighted values", "weighted_values", i, per_head, 0, True),
            StageSpec(
                f"block {i} · output projection", "attention_projection", i, (T, C), C * C + b * C
            ),
            StageSpec(f"block {i} · + residual", "residual", i, (T, C), 0),
            StageSpec(f"block {i} · LayerNorm 2", "layernorm", i, (T, C), norm),
            StageSpec(f"block {i} · MLP up", "mlp_up", i, (T, 4 * C), 4 * C * C + b * 4 * C),
            StageSpec(f"block {i} · {activation[0]}", activation[1], i, (T, 4 * C), 0),
            StageSpec(f"block {i} · MLP down", "mlp_down", i, (T, C), 4 * C * C + b * C),
            StageSpec(f"block {i} · + residual", "residual", i, (T, C), 0),
        ]
    k = min(TOP_CANDIDATES, V)
    # A tied head is the token embedding read backwards: no parameters of its own.
    head = StageSpec("logits (tied head)", "logits", None, (T, V), 0)
    if not tie_head:
        head = StageSpec("logits (output head)", "logits", None, (T, V), V * C)
    return stages + [
        StageSpec("final LayerNorm", "layernorm", None, (T, C), norm),
        head,
        StageSpec("probabilities", "probabilities", None, (T, V), 0),
        StageSpec("top candidates", "top_candidates", None, (T, k), 0),
    ]


def model_parts(
    vocab_size: int,
    block_size: int,
    n_layer: int,
    n_embd: int,
    bias: bool,
    *,
    rope: bool = False,
    tie_head: bool = True,
) -> tuple[ModelPart, ...]:
    """Parameter count per part of the model; they add up to GPT.num_params()."""
    C, b = n_embd, 1 if bias else 0
    norm = C * (1 + b)
    attention = 3 * C * C + 3 * b * C + C * C + b * C
    mlp = 4 * C * C + b * 4 * C + 4 * C * C + b * C
    if tie_head:
        parts = [ModelPart("token embedding (shared with the output head)", vocab_size * C)]
    else:
        parts = [ModelPart("token embedding", vocab_size * C)]
    if not rope:  # rotary embeddings turn q and k by fixed angles: nothing learned
        parts.append(ModelPart("position embedding", block_size * C))
    for i in range(n_layer):
        parts += [
            ModelPart(f"block {i} attention", attention),
            ModelPart(f"block {i} MLP", mlp),
            ModelPart(f"block {i} norms", 2 * norm),
        ]
    parts.append(ModelPart("final norm", norm))
    if not tie_head:
        parts.append(ModelPart("output head", vocab_size * C))
    return tuple(parts)
