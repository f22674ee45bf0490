"""The report's pictures of the time-lapse: the probe's attention at a snapshot (every layer and
head, each labelled with its role), the logit lens and the embedding map.

A snapshot's heads are drawn as one image, tiled layer by layer, in one set of axes: a figure per
head would cost a hundred milliseconds each, and a long run has many snapshots.
"""

from __future__ import annotations

import math
from typing import Any

from engine.contract.display import token_label
from engine.contract.outputs import AttentionMap
from engine.contract.snapshots import EmbeddingMap, LogitLens
from engine.lens.head_roles import head_roles
from engine.report.drawing import MUTED, PRIMARY, figure, matplotlib

CMAP = "viridis"
GAMMA = 0.5  # square-root colour scale: a weight of 0.05 still shows
LABELS_MAX = 40  # past this many tokens, label every k-th
FUTURE = "#f2f2f2"  # cells a causal head cannot see


def _labels(tokens: list[str], width: int = 12) -> list[str]:
    out = []
    for token in tokens:
        label = token_label(token)
        out.append(label if len(label) <= width else label[: width - 1] + "…")
    return out


def labels_every(T: int) -> int:
    """Label every k-th of T tokens: all of them up to LABELS_MAX."""
    return max(1, math.ceil(T / LABELS_MAX))


def _norm() -> Any:
    return matplotlib().colors.PowerNorm(GAMMA, vmin=0.0, vmax=1.0)


def _cmap() -> Any:
    return matplotlib().colormaps[CMAP].with_extremes(bad=FUTURE)


def attention_figure(attention: AttentionMap) -> Any:
    """Every head's map at one snapshot, layer by layer (rows) and head by head (columns): row i
    is where token i looks; above each, the head and its role on this text."""
    import numpy as np

    n_layer, n_head, T, _ = attention.shape
    weights = np.frombuffer(attention.weights, dtype=np.float32).reshape(n_layer, n_head, T, T)
    gap = 1 + T // 10
    size = T + gap
    tiles = np.full((n_layer * size - gap, n_head * size - gap), np.nan)
    future = np.triu(np.ones((T, T), dtype=bool), 1)
    for layer in range(n_layer):
        for head in range(n_head):
            block = weights[layer, head].astype(float)
            block[future] = np.nan
            tiles[layer * size : layer * size + T, head * size : head * size + T] = block
    labels = _labels(attention.tokens)
    longest = max((len(label) for label in labels), default=1)
    cell = min(0.3, max(0.035, 2.6 / T))  # inches
    margin = 0.25 + min(1.1, 0.065 * longest)
    width = n_head * size * cell + margin + 0.2
    height = n_layer * size * cell + margin + 0.3
    fig = figure(width, height)
    ax = fig.add_axes(
        (
            margin / width,
            margin / height,
            n_head * size * cell / width,
            n_layer * size * cell / height,
        )
    )
    ax.imshow(tiles, cmap=_cmap(), norm=_norm(), interpolation="none", aspect="equal")
    ax.set_axis_off()
    roles = {(r.layer, r.head): r for r in head_roles(attention)}
    font = 8 if cell >= 0.15 else 6.5 if cell >= 0.09 else 5.5
    step = labels_every(T)
    for layer in range(n_layer):
        for head in range(n_head):
            role = roles.get((layer, head))
            title = f"L{layer} H{head}" + (f" · {role.role} {role.score:.2f}" if role else "")
            ax.text(head * size - 0.5, layer * size - 0.8, title, fontsize=font, va="bottom")
        for i in range(0, T, step):
            ax.text(-0.9, layer * size + i, labels[i], fontsize=font, ha="right", va="center")
    bottom = (n_layer - 1) * size + T - 0.2
    for head in range(n_head):
        for i in range(0, T, step):
            ax.text(
                head * size + i,
                bottom,
                labels[i],
                fontsize=font,
                ha="center",
                va="top",
                rotation=90,
            )
    return fig


def colour_scale() -> Any:
    """The heatmaps' colour scale, once for all of them."""
    fig = figure(4.2, 0.75)
    ax = fig.add_axes((0.04, 0.55, 0.92, 0.3))
    mappable = matplotlib().cm.ScalarMappable(norm=_norm(), cmap=_cmap())
    bar = fig.colorbar(mappable, cax=ax, orientation="horizontal")
    bar.set_ticks([0, 0.05, 0.2, 0.5, 1])
    bar.ax.tick_params(labelsize=7)
    return fig


def lens_figure(lens: LogitLens) -> Any:
    """At each position (columns) and after each block (rows): how sure the model would be of the
    token that really comes next, if it stopped there; each cell names its top guess."""
    import numpy as np

    T = len(lens.tokens)
    rows = len(lens.layers)
    probs = np.full((rows, T), np.nan)
    for r, targets in enumerate(lens.target_probs):
        probs[r, : len(targets)] = targets
    cell = min(0.6, max(0.12, 9.0 / max(T, 1)))
    tokens = _labels(list(lens.tokens))
    left = 0.3 + 0.07 * max(len(layer) for layer in lens.layers)
    bottom = 0.7 + min(1.1, 0.065 * max((len(t) for t in tokens), default=1))
    width, height = max(4.0, T * cell + left + 0.3), rows * 0.42 + bottom + 0.2
    fig = figure(width, height)
    ax = fig.add_axes(
        (left / width, bottom / height, 1 - (left + 0.3) / width, 1 - (bottom + 0.2) / height)
    )
    ax.imshow(probs, cmap=_cmap(), norm=_norm(), interpolation="none", aspect="auto")
    ax.grid(False)
    step = labels_every(T)
    ax.set_xticks(range(0, T, step), tokens[::step], rotation=90, fontsize=7)
    ax.set_yticks(range(rows), list(lens.layers), fontsize=7)
    ax.set_xlabel("input token (the guess is for the token after it)")
    if T <= 24:
        for r, row in enumerate(lens.top):
            for t, guess in enumerate(row):
                dark = not (r < rows and t < len(lens.target_probs[r])) or probs[r, t] < 0.3
                ax.text(
                    t,
                    r,
                    _labels([guess.text], 6)[0],
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if dark else "black",
                )
    return fig


def map_figure(maps: list[EmbeddingMap]) -> Any:
    """Token embeddings on their first two principal components, one panel per snapshot given:
    tokens used alike come to lie together."""
    fig = figure(5.0 * len(maps), 4.4)
    fig.subplots_adjust(left=0.1 / len(maps), right=0.98, top=0.93, bottom=0.12, wspace=0.22)
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    for ax, embedding in zip(axes, maps, strict=True):
        counts = embedding.counts or (1,)
        top = max(counts) or 1
        sizes = [6 + 40 * math.sqrt(c / top) for c in embedding.counts]
        ax.scatter(embedding.x, embedding.y, s=sizes, color=PRIMARY, alpha=0.45, lw=0)
        labelled = embedding.labelled
        for x, y, text in zip(
            embedding.x[:labelled],
            embedding.y[:labelled],
            _labels(list(embedding.texts[:labelled]), 10),
            strict=True,
        ):
            ax.annotate(text, (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
        share = [f"{100 * e:.0f}%" for e in embedding.explained]
        ax.set_title(f"step {embedding.step:,}", fontsize=9)
        ax.set_xlabel(f"first component ({share[0]} of the variance)", fontsize=8, color=MUTED)
        ax.set_ylabel(f"second ({share[1]})", fontsize=8, color=MUTED)
        ax.tick_params(labelsize=7)
    return fig
