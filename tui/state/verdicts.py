"""One-line verdicts on the learning, where a rule of thumb applies, at the step shown.

Each verdict names its Learn entry. The rules are rough guides a learner can check against the
charts, not diagnoses: a warning says what may be wrong, an info says what has happened.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from engine import INDUCTION_THRESHOLD, UPDATE_GUIDE, TrainingStarted
from tui.state.learning import LearningHistory, grad_norms, head_name, update_ratios

# Updates this many powers of ten from the guide (about 30x either way) earn a warning: the
# seed preset's healthy run sits 3-16x above it, which is usual for a small model.
UPDATE_WARN = 1.5
DEAD_WARN = 0.10  # a block with this share of its MLP units dead
SPIKE = 10.0  # a gradient norm this many times its median over the last readings
SPIKE_BASE = 5  # readings the median needs
SCORE_WARN = 100.0  # a pre-softmax attention score this large: softmax is all-or-nothing
FOCUSED = 0.1  # a head whose entropy is under this share of even attention looks at one token

UPDATE_ENTRY = "Update-to-data ratio"


@dataclass(frozen=True)
class Verdict:
    text: str  # plain text: names of layers and heads, numbers; no corpus text
    heading: str  # its glossary entry
    level: str = "info"  # "warning" or "info"


def times(ratio: float) -> str:
    """How many times the guide an update ratio is: '30×', '2.5×', '1/40'."""
    factor = 10 ** (ratio - UPDATE_GUIDE)
    if factor >= 10:
        return f"{factor:,.0f}×"
    if factor >= 1:
        return f"{factor:.1f}×"
    return f"1/{1 / factor:,.0f}" if factor < 0.1 else f"{factor:.2f}×"


def group_label(name: str) -> str:
    """'L1' as 'layer 1', 'emb' as 'the embeddings', 'head' as 'the output head'."""
    return {"emb": "the embeddings", "head": "the output head"}.get(name, f"layer {name[1:]}")


def possessive(name: str) -> str:
    return f"{group_label(name)}'" if name == "emb" else f"{group_label(name)}'s"


def verdicts(history: LearningHistory, step: int | None = None) -> list[Verdict]:
    """What the rules of thumb say at `step` (None: latest), warnings first."""
    out = _updates(history, step) + _gradients(history, step) + _units(history, step)
    out += _attention(history, step) + _phases(history, step)
    if speed := speed_verdict(history.started, history.tokens_per_s_at(step)):
        out.append(speed)
    return sorted(out, key=lambda v: v.level != "warning")


def _updates(history: LearningHistory, step: int | None) -> list[Verdict]:
    stats = history.stats_at(step)
    if stats is None:
        return []
    ratios = {k: v for k, v in update_ratios(stats).items() if math.isfinite(v)}
    out = []
    for name, ratio in ratios.items():
        updates = f"{possessive(name)} updates are {times(ratio)}"
        if ratio >= UPDATE_GUIDE + UPDATE_WARN:
            text = f"{updates} the guide: the learning rate may be too high"
            out.append(Verdict(text, UPDATE_ENTRY, "warning"))
        elif ratio <= UPDATE_GUIDE - UPDATE_WARN:
            text = f"{updates} of the guide: the learning rate may be too low"
            out.append(Verdict(text, UPDATE_ENTRY, "warning"))
    if ratios and not out:
        low, high = times(min(ratios.values())), times(max(ratios.values()))
        span = low if low == high else f"{low} to {high}"
        text = f"updates {span} the guide (−3) in every layer: none is 30× off"
        out.append(Verdict(text, UPDATE_ENTRY))
    return out


def _gradients(history: LearningHistory, step: int | None) -> list[Verdict]:
    stats = history.stats_at(step)
    if stats is None:
        return []
    index = history.stats.index(stats)
    before = [grad_norms(s) for s in history.stats[max(0, index - SPIKE_BASE) : index]]
    if len(before) < SPIKE_BASE:
        return []
    out = []
    for name, norm in grad_norms(stats).items():
        usual = statistics.median(b[name] for b in before if name in b)
        if usual > 0 and norm >= SPIKE * usual:
            text = f"{possessive(name)} gradient is {norm / usual:,.0f}× its recent size: a spike"
            out.append(Verdict(text, "Gradient norm and clipping", "warning"))
    return out


def _units(history: LearningHistory, step: int | None) -> list[Verdict]:
    stats = history.stats_at(step)
    if stats is None:
        return []
    return [
        Verdict(
            f"{layer.mlp_dead:.0%} of layer {layer.layer}'s MLP units never fire on this batch",
            "Dead units",
            "warning",
        )
        for layer in stats.layers
        if layer.mlp_dead >= DEAD_WARN
    ]


def _attention(history: LearningHistory, step: int | None) -> list[Verdict]:
    stats = history.stats_at(step)
    if stats is None:
        return []
    out = []
    big = [h for h in stats.heads if h.max_score >= SCORE_WARN]
    if big:
        top = max(big, key=lambda h: h.max_score)
        more = f" (and {len(big) - 1} more)" if len(big) > 1 else ""
        text = (
            f"head {head_name(top.layer, top.head)}{more} scores up to {top.max_score:,.0f}: "
            "logits that large can destabilise training"
        )
        out.append(Verdict(text, "Attention entropy and largest score", "warning"))
    even = stats.uniform_entropy
    focused = [h for h in stats.heads if even > 0 and h.entropy < FOCUSED * even]
    if focused:
        names = ", ".join(head_name(h.layer, h.head) for h in focused[:3])
        names += f" +{len(focused) - 3}" if len(focused) > 3 else ""
        text = f"{names}: nearly all attention on one token (entropy under a tenth of even)"
        out.append(Verdict(text, "Attention entropy and largest score"))
    return out


def _phases(history: LearningHistory, step: int | None) -> list[Verdict]:
    out = [Verdict(p.detail or p.label, p.heading) for p in history.phases_until(step)]
    scored = history.scores_at(step)
    if scored is None or not scored.heads:
        return out
    # A head has no induction score where the probe cannot show one (a task's 3-token rows).
    scorable = [h for h in scored.heads if math.isfinite(h.induction)]
    if scorable and not any(p.heading == "Induction head" for p in history.phases_until(step)):
        best = max(scorable, key=lambda h: h.induction)
        text = (
            f"no induction head yet: best score {best.induction:.2f} "
            f"({head_name(best.layer, best.head)}), {INDUCTION_THRESHOLD:.2f} counts as formed"
        )
        out.append(Verdict(text, "Induction head"))
    return out


def flops(value: float) -> str:
    """FLOP/s in a few characters: 2.1 GFLOP/s, 312 TFLOP/s."""
    for limit, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M")):
        if value >= limit:
            scaled = value / limit
            number = f"{scaled:.3g}" if scaled < 100 else f"{scaled:,.0f}"
            return f"{number} {prefix}FLOP/s"
    return f"{value:.3g} FLOP/s"


def speed_verdict(started: TrainingStarted | None, tokens_per_s: float | None) -> Verdict | None:
    """Model FLOP/s achieved, against what the device can do: MFU on a GPU with a known peak,
    the measured matmul rate on a CPU, or that the peak is unknown."""
    if started is None or not tokens_per_s or not started.step_flops:
        return None
    achieved = started.flops_per_s(tokens_per_s) or 0.0
    share = started.utilization(tokens_per_s)
    if share is None:
        why = started.peak_source or f"no peak known for {started.device}"
        return Verdict(f"{flops(achieved)} achieved; MFU unknown: {why}", "MFU")
    peak = started.peak_flops or 0.0
    if started.device.startswith("cuda"):
        text = f"MFU {share:.1%}: {flops(achieved)} of the GPU's bf16 peak {flops(peak)}"
    else:
        rate = f"this CPU's measured matmul rate {flops(peak)}"
        text = f"{flops(achieved)} achieved, {share:.1%} of {rate}"
    return Verdict(text, "MFU")
