"""What the Learning view draws, as plain records (no torch): the parts of the training statistics
and head-score events (the logit lens and the embedding map are in contract/snapshots.py).

A weight row's `matrix` is one of WEIGHT_MATRICES, a stable key a client maps to a label and a
Learn entry. The guide values are the rules of thumb a verdict compares against. No field here is
called `kind`: in events.jsonl '{"kind":' starts a line and must occur nowhere else in it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Each 2-D weight the statistics follow, in model order; 1-D gains and biases are left out, as
# in Karpathy's makemore plots (their update:data ratio says little).
WEIGHT_MATRICES = (
    "token_embedding",  # wte (also the head when tied)
    "position_embedding",  # wpe; absent with rope
    "qkv",  # attention's fused query, key and value projection (c_attn)
    "attn_out",  # attention's output projection (c_proj)
    "mlp_in",  # the MLP's first matrix (c_fc), into 4 x n_embd units
    "mlp_out",  # the MLP's second matrix (c_proj), back to n_embd
    "head",  # the output head, only when untied
)
UPDATE_GUIDE = -3.0  # log10(update:data) of a healthy step (makemore part 3): ~1e-3 of the weight
NEAR_ZERO = 0.01  # an MLP activation with |a| below this counts as near zero
INDUCTION_THRESHOLD = 0.4  # a head's induction score at which it is said to have formed (as
# head_roles.THRESHOLD: the Attention view would label it induction from here)
# Nats: the in-context-learning score falling this far below its lowest so far is a jump.
ICL_JUMP = 0.1
# A task's model has memorised when its train accuracy reaches MEMORISED_ACCURACY while val
# accuracy is below GENERALISED_ACCURACY; it has generalised (after memorising: grokking) when
# val accuracy reaches GENERALISED_ACCURACY, the middle of its climb.
MEMORISED_ACCURACY = 0.99
GENERALISED_ACCURACY = 0.5


@dataclass(frozen=True)
class WeightStats:
    """One weight matrix at one step."""

    matrix: str  # one of WEIGHT_MATRICES
    layer: int | None  # its block; None for the embeddings and the head
    grad_norm: float  # L2 norm of its gradient, before clipping
    weight_norm: float  # L2 norm of the weight after the step
    # log10(std(Δw) / std(w)), Δw the change the optimizer really made this step (weight decay
    # included), w the weight after it; -inf if it did not move, nan if both are zero.
    update_ratio: float


@dataclass(frozen=True)
class LayerStats:
    """One block's activations on the step's batch (forward pass without dropout)."""

    layer: int
    mlp_near_zero: float  # share of MLP activations (units x tokens) with |a| < NEAR_ZERO
    mlp_dead: float  # share of MLP units whose pre-activation is > 0 on no token of the batch
    residual_norm: float  # mean L2 norm, per token, of the residual stream after this block


@dataclass(frozen=True)
class HeadStats:
    layer: int
    head: int
    entropy: float  # mean entropy of its attention rows in nats, over queries 1..T-1
    max_score: (
        float  # its largest pre-softmax score q·k/√head_size on the batch (QK-norm bounds it)
    )


@dataclass(frozen=True)
class HeadScore:
    """One head's attention habits on the repeated random-token probe (engine/lens/circuits.py):
    the mean attention it puts on each habit's target (head_roles' definitions)."""

    layer: int
    head: int
    previous_token: float  # on the token just before
    duplicate_token: float  # on the earlier copy of the current token
    induction: float  # on the token after that earlier copy (A B ... A -> B)
