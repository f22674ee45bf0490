"""Head roles: what each attention head mostly does on a text, read off its attention map.

Plain Python over an AttentionMap (no torch), so the same scorer labels the live model's map
(client.attention(probe)) and a stored time-lapse snapshot (client.attention_at(step)), on either
side of the socket. A role's score is the mean attention mass on the role's target over the query
positions where the role is defined and differs from the others:

- previous-token: the token just before (queries 2.., where it is not also the first token);
- current-token: the token itself (queries 1..: query 0 can only attend to itself);
- first-token: position 0 (queries 2..);
- induction: the token after an earlier copy of the current token, A B ... A -> B (queries with
  such a copy whose follower lies before the previous token; absent from a text without repeats);
- duplicate-token: the earlier copies of the current token themselves, A ... A -> A (queries with
  a copy before the previous token; absent from a text without repeats).
"""

from __future__ import annotations

from engine.contract.outputs import AttentionMap, HeadRole

ROLES = ("previous-token", "current-token", "first-token", "induction", "duplicate-token")
MIXED = "mixed"
THRESHOLD = 0.4  # a head whose best role gets less than this mean mass is labelled mixed


Targets = list[tuple[int, list[int]]]  # (query, the key positions a role looks for)


def _induction_targets(ids: list[int]) -> Targets:
    """(query, key positions) where each key follows an earlier copy of the query's token."""
    out = []
    for i, token in enumerate(ids):
        keys = [j + 1 for j in range(i - 2) if ids[j] == token]  # follower j + 1 < i - 1
        if keys:
            out.append((i, keys))
    return out


def _duplicate_targets(ids: list[int]) -> Targets:
    """(query, key positions) where each key is an earlier copy of the query's token, before the
    previous token (which previous-token heads look at anyway)."""
    out = []
    for i, token in enumerate(ids):
        keys = [j for j in range(i - 1) if ids[j] == token]
        if keys:
            out.append((i, keys))
    return out


def _mean_mass(at, targets: Targets) -> float:
    return sum(sum(at(q, k) for k in keys) for q, keys in targets) / len(targets)


def score_head(
    weights, base: int, T: int, targets: Targets, duplicates: Targets | None = None
) -> dict:
    """Each role's score for one head whose (T, T) map starts at `base` in the flat weights;
    `targets` and `duplicates` are the text's induction and duplicate-token targets."""

    def at(q: int, k: int) -> float:
        return weights[base + q * T + k]

    scores = {}
    if T > 2:
        scores["previous-token"] = sum(at(i, i - 1) for i in range(2, T)) / (T - 2)
        scores["first-token"] = sum(at(i, 0) for i in range(2, T)) / (T - 2)
    if T > 1:
        scores["current-token"] = sum(at(i, i) for i in range(1, T)) / (T - 1)
    if targets:
        scores["induction"] = _mean_mass(at, targets)
    if duplicates:
        scores["duplicate-token"] = _mean_mass(at, duplicates)
    return scores


def head_roles(attention: AttentionMap, threshold: float = THRESHOLD) -> tuple[HeadRole, ...]:
    """A role for every head, layer by layer, from one attention map."""
    n_layer, n_head, T, _ = attention.shape
    ids = list(attention.token_ids)
    targets, duplicates = _induction_targets(ids), _duplicate_targets(ids)
    roles = []
    for layer in range(n_layer):
        for head in range(n_head):
            base = (layer * n_head + head) * T * T
            scores = score_head(attention.weights, base, T, targets, duplicates)
            ordered = tuple((role, scores[role]) for role in ROLES if role in scores)
            best, score = max(ordered, key=lambda pair: pair[1], default=(MIXED, 0.0))
            role = best if score >= threshold else MIXED
            roles.append(HeadRole(layer, head, role, score, ordered))
    return tuple(roles)
