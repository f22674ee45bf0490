"""The report's line charts: the loss as the app's Train view draws it, and the learning's own
statistics (TrainingStats, HeadsScored), with the phase changes marked.

Each function takes a RunRecord and returns a matplotlib Figure (or None when the run has nothing
to draw); engine/report/drawing.py turns it into SVG.
"""

from __future__ import annotations

import math
from typing import Any

from engine.contract.learning import INDUCTION_THRESHOLD, UPDATE_GUIDE, WEIGHT_MATRICES
from engine.report.drawing import ACCENT, ERROR, MUTED, PHASE, PRIMARY, SUCCESS, figure, matplotlib
from engine.report.record import RunRecord

SMOOTHING = 0.9  # the app's default EMA
BUCKETS = 1_000  # batch-loss points drawn: about twice a wide chart's width, as in the app
EVAL_MARKERS = 150


def ema(losses: list[float], weights: list[int], beta: float = SMOOTHING) -> list[float]:
    """The debiased EMA the app draws; a point that stands for `weight` steps of its mean loss
    decays the average that many times (tui/state/loss_history.py does the same)."""
    out, raw, count = [], 0.0, 0
    for loss, weight in zip(losses, weights, strict=True):
        decay = beta**weight
        raw = decay * raw + (1 - decay) * loss
        count += weight
        out.append(raw / (1 - beta**count))
    return out


def buckets(steps: list[int], values: list[list[float]], weights: list[int], n: int):
    """Steps and each of `values` in at most `n` buckets of equal step ranges: the first series
    as its weighted mean over the bucket, the others as their last value (an EMA's)."""
    if len(steps) <= n:
        return steps, values
    first, span = steps[0], steps[-1] - steps[0]
    out_steps: list[int] = []
    out_values: list[list[float]] = [[] for _ in values]
    start = 0
    for j in range(1, n + 1):
        edge = first + span * j / n
        end = start
        while end < len(steps) and steps[end] <= edge:
            end += 1
        if end == start:
            continue
        total = sum(weights[start:end])
        out_steps.append(steps[end - 1])
        out_values[0].append(
            sum(v * w for v, w in zip(values[0][start:end], weights[start:end], strict=True))
            / total
        )
        for series, out in zip(values[1:], out_values[1:], strict=True):
            out.append(series[end - 1])
        start = end
    return out_steps, out_values


def overfit_spans(record: RunRecord) -> list[tuple[int, int]]:
    """Step ranges between evals over which val rose while the eval-time train loss fell (as the
    app shades them)."""
    spans: list[tuple[int, int]] = []
    for e0, e1 in zip(record.evals, record.evals[1:], strict=False):
        if e1.val_loss > e0.val_loss and e1.train_loss < e0.train_loss:
            if spans and spans[-1][1] == e0.step:
                spans[-1] = (spans[-1][0], e1.step)
            else:
                spans.append((e0.step, e1.step))
    return spans


def landmarks(record: RunRecord) -> list[tuple[str, float, str]]:
    """(name, loss, colour) of the horizontal lines: random guessing, then counting."""
    if not record.started:
        return []
    started = record.started[0]
    marks = []
    if started.vocab_size > 1:
        marks.append(("ln V", math.log(started.vocab_size), ERROR))
    if started.unigram_loss is not None:
        marks.append(("unigram", started.unigram_loss, MUTED))
    if started.bigram_loss is not None:
        marks.append(("bigram", started.bigram_loss, SUCCESS))
    return marks


def loss_chart(record: RunRecord) -> Any:
    """Batch loss (dots), its EMA, train and val at each eval, the best val, landmarks, the
    overfitting shaded, and the phase changes, skipped steps and resumes marked."""
    steps = [s for s in record.steps if math.isfinite(s.loss)]
    if not steps and not record.evals:
        return None
    fig = figure(10, 4.8)
    fig.subplots_adjust(left=0.07, right=0.985, top=0.97, bottom=0.25)  # the legend below
    ax = fig.add_subplot()
    x = [s.step for s in steps]
    losses, weights = [s.loss for s in steps], [s.merged for s in steps]
    y_values = list(losses)
    for start, end in overfit_spans(record):
        ax.axvspan(start, end, color=ERROR, alpha=0.12, lw=0)
    ax.axvspan(0, 0, color=ERROR, alpha=0.12, lw=0, label="overfitting (val up, train down)")
    for name, value, color in landmarks(record):
        ax.axhline(value, color=color, lw=1, ls=(0, (5, 3)), alpha=0.8, label=f"{name} {value:.2f}")
        y_values.append(value)
    if steps:
        bx, (by, bema) = buckets(x, [losses, ema(losses, weights)], weights, BUCKETS)
        ax.scatter(bx, by, s=5, color=PRIMARY, alpha=0.45, lw=0, label="batch loss")
        ax.plot(bx, bema, color=PRIMARY, lw=1.8, label=f"train EMA (β {SMOOTHING})")
    if record.evals:
        # As in the app, about one eval marker a column: hundreds would hide the curve.
        evals = record.evals[:: max(1, len(record.evals) // EVAL_MARKERS)]
        ex, size = [e.step for e in evals], 22 if len(evals) <= 60 else 10
        ax.scatter(
            ex,
            [e.train_loss for e in evals],
            s=size,
            facecolors="white",
            edgecolors=PRIMARY,
            lw=1.2,
            zorder=3,
            label="train at eval",
        )
        ax.scatter(ex, [e.val_loss for e in evals], s=size, color=ACCENT, zorder=4, label="val")
        y_values += [e.val_loss for e in record.evals] + [e.train_loss for e in record.evals]
        if (best := record.best_val()) is not None:
            ax.scatter(
                [best.step],
                [best.val_loss],
                s=90,
                marker="D",
                color=ACCENT,
                edgecolors="black",
                lw=0.8,
                zorder=5,
                label=f"best val {best.val_loss:.4f} (step {best.step:,})",
            )
    finite = [v for v in y_values if math.isfinite(v)]
    if finite:
        low, high = min(finite), max(finite)
        pad = (high - low) * 0.05 or 0.1
        ax.set_ylim(low - pad, high + pad)
    _mark_events(ax, record, label_phases=True)
    ax.set_xlim(0, max(record.last_step, 1) * 1.015)  # room for the last eval's marker
    ax.set_xlabel("step")
    ax.set_ylabel("loss, nats")
    fig.legend(loc="lower center", ncols=5, fontsize=8)
    return fig


def _mark_events(ax: Any, record: RunRecord, label_phases: bool = False) -> None:
    """Phase changes (dotted, violet), resumes (grey) and skipped steps (red x) on a chart."""
    for change in record.phases:
        ax.axvline(change.step, color=PHASE, lw=0.9, ls=":")
        if label_phases:
            ax.annotate(
                change.label(),
                (change.step, 1),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color=PHASE,
            )
    for started in record.started[1:]:
        ax.axvline(started.start_step, color=MUTED, lw=0.9)
        ax.annotate(
            "resumed",
            (started.start_step, 0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="bottom",
            ha="left",
            fontsize=7,
            color=MUTED,
        )
    if record.not_finite:
        ax.scatter(
            [e.step for e in record.not_finite],
            [0.97] * len(record.not_finite),
            marker="x",
            color=ERROR,
            transform=ax.get_xaxis_transform(),
            zorder=6,
            label="step skipped: not finite",
        )


def _finite(values: list[float]) -> list[float]:
    return [v if math.isfinite(v) else math.nan for v in values]


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def stats_chart(record: RunRecord) -> Any:
    """The training statistics over the run: each kind of weight matrix's update:data ratio and
    gradient norm (mean over blocks), the MLPs' dead and quiet units, the residual stream's norm,
    and each head's attention entropy."""
    stats = record.stats
    if not stats:
        return None
    x = [s.step for s in stats]
    fig = figure(10, 6.4)
    # Fixed margins: a layout engine measures every label first and would double the time.
    fig.subplots_adjust(left=0.06, right=0.99, top=0.95, bottom=0.08, wspace=0.28, hspace=0.32)
    (ratio, grad, mlp), (resid, entropy, score) = fig.subplots(2, 3)
    matrices = [m for m in WEIGHT_MATRICES if any(w.matrix == m for w in stats[-1].weights)]
    for matrix in matrices:
        rows = [[w for w in s.weights if w.matrix == matrix] for s in stats]
        ratio.plot(x, _finite([_mean([w.update_ratio for w in r]) for r in rows]), label=matrix)
        grad.plot(x, _finite([_mean([w.grad_norm for w in r]) for r in rows]), label=matrix)
    ratio.axhline(UPDATE_GUIDE, color=MUTED, ls="--", lw=1)
    ratio.set_title("update:data ratio, log10 (guide −3)", fontsize=9)
    grad.set_title("gradient norm before clipping", fontsize=9)
    grad.set_yscale("log")
    ticker = matplotlib().ticker  # plain numbers: the default's are TeX, and TeX is off
    grad.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    grad.yaxis.set_minor_formatter(ticker.NullFormatter())
    ratio.legend(fontsize=7, ncols=2, loc="best")
    n_layer = len(stats[-1].layers)
    for layer in range(n_layer):
        color = f"C{layer % 10}"
        blocks = [next((b for b in s.layers if b.layer == layer), None) for s in stats]
        mlp.plot(
            x,
            [b.mlp_dead if b else math.nan for b in blocks],
            color=color,
            label=f"block {layer} dead",
        )
        mlp.plot(x, [b.mlp_near_zero if b else math.nan for b in blocks], color=color, ls=":")
        resid.plot(
            x,
            [b.residual_norm if b else math.nan for b in blocks],
            color=color,
            label=f"block {layer}",
        )
    mlp.set_title("MLP units dead (solid), near 0 (dotted)", fontsize=9)
    resid.set_title("residual stream norm after each block", fontsize=9)
    if n_layer <= 8:
        resid.legend(fontsize=7)
    heads = [(h.layer, h.head) for h in stats[-1].heads]
    for layer, head in heads:
        series = [
            next((h for h in s.heads if (h.layer, h.head) == (layer, head)), None) for s in stats
        ]
        entropy.plot(x, [h.entropy if h else math.nan for h in series], lw=1)
        score.plot(x, [h.max_score if h else math.nan for h in series], lw=1)
    if stats[-1].uniform_entropy:
        entropy.axhline(stats[-1].uniform_entropy, color=MUTED, ls="--", lw=1)
    entropy.set_title("each head's attention entropy (dashed: even)", fontsize=9)
    score.set_title("each head's largest attention score", fontsize=9)
    for ax in (ratio, grad, mlp, resid, entropy, score):
        _mark_events(ax, record)
        ax.tick_params(labelsize=7)
    for ax in (resid, entropy, score):
        ax.set_xlabel("step")
    return fig


def heads_chart(record: RunRecord) -> Any:
    """Each head's induction and previous-token score on the repeated random-token probe, and the
    in-context-learning score, with the phase changes marked."""
    scored = record.heads
    if not scored:
        return None
    x = [s.step for s in scored]
    fig = figure(10, 3.3)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.9, bottom=0.16, wspace=0.28)
    induction, previous, icl = fig.subplots(1, 3)
    heads = [(h.layer, h.head) for h in scored[-1].heads]
    for layer, head in heads:
        rows = [
            next((h for h in s.heads if (h.layer, h.head) == (layer, head)), None) for s in scored
        ]
        label = f"L{layer}H{head}"
        induction.plot(x, [h.induction if h else math.nan for h in rows], lw=1, label=label)
        previous.plot(x, [h.previous_token if h else math.nan for h in rows], lw=1, label=label)
    induction.axhline(INDUCTION_THRESHOLD, color=MUTED, ls="--", lw=1)
    induction.set_title(f"induction score (formed at {INDUCTION_THRESHOLD})", fontsize=9)
    previous.set_title("previous-token score", fontsize=9)
    icl.plot(x, [s.icl_score for s in scored], color=PRIMARY)
    icl.axhline(0, color=MUTED, lw=1)
    icl.set_title("in-context learning: late − early loss", fontsize=9)
    if len(heads) <= 12:
        previous.legend(fontsize=7, ncols=2)
    for ax in (induction, previous, icl):
        _mark_events(ax, record)
        ax.set_xlabel("step")
        ax.tick_params(labelsize=7)
    return fig
