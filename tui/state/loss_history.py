"""The loss chart's data: train loss per step, its debiased EMA, and the eval points.

Memory stays bounded on a run of any length. The newest RECENT steps keep a point each; whenever
the history passes MAX_POINTS, the points older than those are merged in pairs (mean loss, last
step), the lightest first, so the older points stay evenly spread and a replay of any step finds
its neighbourhood: a few hundred columns cannot show more.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from operator import add

RECENT = 10_000  # the newest steps, one point each
MAX_POINTS = 20_000  # past this, the older points are merged pairwise
FREE = 5_000  # how many points a merge frees at least, so that it comes rarely
MAX_EVALS = 2_000  # past this, every other one of the older val points is dropped


def _thin(points: list, limit: int) -> None:
    """Drop every other point of the older half once `points` passes `limit`."""
    if len(points) > limit:
        half = len(points) // 2
        points[:half] = points[:half:2]


class LossHistory:
    """Train loss, tokens seen and training seconds against step, a debiased EMA of the loss,
    and eval points.

    Each point stands for `weight` consecutive steps (1 for recent ones): `loss` is their mean,
    `steps`, `tokens`, `seconds` and `ema` are those of the last of them.
    """

    def __init__(self, smoothing: float = 0.9) -> None:
        self.steps: list[int] = []
        self.tokens: list[int] = []
        self.seconds: list[float] = []  # training time, evals excluded (StepCompleted.elapsed_s)
        self.loss: list[float] = []
        self.ema: list[float] = []
        self.weight: list[int] = []
        self.val: list[tuple[int, float]] = []  # (step, val_loss)
        # (step, train_loss) measured at the same evals as val, on fixed batches: the stats'
        # val−train and the overfitting test use it, not the noisy per-batch loss.
        self.eval_train: list[tuple[int, float]] = []
        self.smoothing = smoothing
        self._ema_raw = 0.0
        self._ema_steps = 0

    def __len__(self) -> int:
        """Points kept (one per step until the history is compacted)."""
        return len(self.steps)

    def add_step(
        self, step: int, loss: float, tokens_seen: int, seconds: float = 0.0, weight: int = 1
    ) -> None:
        """One point; `weight` > 1 for an event that stands for that many steps (a long history
        replayed in brief: StepCompleted.merged), `loss` being their mean."""
        if not math.isfinite(loss):
            return  # a skipped step; the failure notice reports it
        if self.steps and step <= self.steps[-1]:
            self.clear_from(step)  # a resumed run restarts from its checkpoint's step
        self.steps.append(step)
        self.tokens.append(tokens_seen)
        self.seconds.append(seconds)
        self.loss.append(loss)
        self.weight.append(weight)
        # As in set_smoothing: a merged point is `weight` steps of its mean loss.
        decay = self.smoothing**weight
        self._ema_raw = decay * self._ema_raw + (1 - decay) * loss
        self._ema_steps += weight
        # Debias as Adam does: the EMA starts at 0, so early values are scaled up.
        self.ema.append(self._ema_raw / (1 - self.smoothing**self._ema_steps))
        if len(self.steps) > MAX_POINTS:
            self._compact()

    def add_eval(self, step: int, val_loss: float, train_loss: float | None = None) -> None:
        if self.val and step <= self.val[-1][0]:
            self._clear_evals_from(step)  # a resumed run evaluates its checkpoint's step again
        self.val.append((step, val_loss))
        _thin(self.val, MAX_EVALS)
        if train_loss is not None:
            self.eval_train.append((step, train_loss))
            _thin(self.eval_train, MAX_EVALS)

    def best_val(self) -> tuple[int, float] | None:
        """(step, val loss) of the lowest val loss so far."""
        return min(self.val, key=lambda point: point[1]) if self.val else None

    def overfit_spans(self) -> list[tuple[int, int]]:
        """Step ranges between evals over which val rose while the eval-time train loss fell:
        the model got better at its training text and worse at text it never saw."""
        train = dict(self.eval_train)
        spans: list[tuple[int, int]] = []
        for (s0, v0), (s1, v1) in zip(self.val, self.val[1:], strict=False):
            if s0 in train and s1 in train and v1 > v0 and train[s1] < train[s0]:
                if spans and spans[-1][1] == s0:
                    spans[-1] = (spans[-1][0], s1)
                else:
                    spans.append((s0, s1))
        return spans

    def _clear_evals_from(self, step: int) -> None:
        self.val = [(s, v) for s, v in self.val if s < step]
        self.eval_train = [(s, v) for s, v in self.eval_train if s < step]

    def _compact(self) -> None:
        """Merge older points in pairs until FREE points are free again, the lightest pairs
        first: the older points keep an even spacing (within a factor of two), so a replay finds
        a point near any step. Merging the oldest points again at every pass left the first
        quarter of a 100,000-step run as one point."""
        cap = 2 * min(self.weight[: len(self.steps) - RECENT])
        while len(self.steps) > MAX_POINTS - FREE:
            old = len(self.steps) - RECENT
            lightest = min(map(add, self.weight[: old - 1], self.weight[1:old]))
            while cap < lightest:  # no pair is light enough: the next, twice as heavy
                cap *= 2
            self._merge_pairs(old, cap)

    def _merge_pairs(self, old: int, cap: int) -> None:
        """Merge each pair of neighbours among the first `old` points weighing at most `cap`
        together (mean loss; step, tokens, seconds and EMA of the later)."""
        steps, tokens, seconds, loss, ema, weight = [], [], [], [], [], []
        i = 0
        while i < old:
            w0 = self.weight[i]
            if i + 1 < old and w0 + self.weight[i + 1] <= cap:
                w1, j = self.weight[i + 1], i + 1
                loss.append((self.loss[i] * w0 + self.loss[j] * w1) / (w0 + w1))
                weight.append(w0 + w1)
                i += 2
            else:
                j = i
                loss.append(self.loss[i])
                weight.append(w0)
                i += 1
            steps.append(self.steps[j])
            tokens.append(self.tokens[j])
            seconds.append(self.seconds[j])
            ema.append(self.ema[j])
        self.steps[:old], self.tokens[:old], self.loss[:old] = steps, tokens, loss
        self.seconds[:old] = seconds
        self.ema[:old], self.weight[:old] = ema, weight

    def clear_from(self, step: int) -> None:
        keep = bisect_right(self.steps, step - 1)
        for series in (self.steps, self.tokens, self.seconds, self.loss, self.weight):
            del series[keep:]
        self._clear_evals_from(step)
        self.set_smoothing(self.smoothing)

    def up_to(self, step: int) -> LossHistory:
        """The history as it stood at `step`, for drawing a replayed step: a copy of its points
        and evals up to that step (the EMA of each point is already that of its step)."""
        end = bisect_right(self.steps, step)
        past = LossHistory(self.smoothing)
        past.steps, past.tokens, past.seconds = (
            self.steps[:end],
            self.tokens[:end],
            self.seconds[:end],
        )
        past.loss, past.ema, past.weight = self.loss[:end], self.ema[:end], self.weight[:end]
        past.val = [point for point in self.val if point[0] <= step]
        past.eval_train = [point for point in self.eval_train if point[0] <= step]
        past._ema_steps = sum(past.weight)
        if past.ema:  # so that it could go on: the EMA's raw sum, undebiased
            past._ema_raw = past.ema[-1] * (1 - past.smoothing**past._ema_steps)
        return past

    def set_smoothing(self, smoothing: float) -> None:
        self.smoothing = beta = min(0.999, max(0.0, smoothing))
        self.ema, raw, count = [], 0.0, 0
        for loss, weight in zip(self.loss, self.weight, strict=True):
            # A merged point is `weight` steps of its mean loss: the EMA decays that many times.
            decay = beta**weight
            raw = decay * raw + (1 - decay) * loss
            count += weight
            self.ema.append(raw / (1 - beta**count))
        self._ema_raw, self._ema_steps = raw, count

    def x_at(self, steps: list[int], axis: str) -> list[float]:
        """Where `steps` lie on an x axis: "step", "tokens" (seen) or "seconds" (of training).
        A step between kept points takes the next kept point's value (evals carry only steps)."""
        if axis == "step" or not self.steps:
            return list(steps)
        series = self.tokens if axis == "tokens" else self.seconds
        last = len(self.steps) - 1
        return [
            series[min(last, bisect_left(self.steps, step))] if step > 0 else 0 for step in steps
        ]

    def downsampled(self, points: int) -> tuple[list[int], list[int], list[float], list[float]]:
        """(steps, tokens, mean loss, EMA) in at most `points` buckets of equal step ranges."""
        n = len(self.steps)
        if n <= max(1, points):
            return self.steps, self.tokens, self.loss, self.ema
        first, span = self.steps[0], self.steps[-1] - self.steps[0]
        edges = {bisect_right(self.steps, first + span * j / points) for j in range(1, points)}
        bounds = sorted(edges | {0, n})
        steps, tokens, loss, ema = [], [], [], []
        for start, end in zip(bounds, bounds[1:], strict=False):
            if start == end:
                continue
            weights = self.weight[start:end]
            total = sum(v * w for v, w in zip(self.loss[start:end], weights, strict=True))
            loss.append(total / sum(weights))
            steps.append(self.steps[end - 1])
            tokens.append(self.tokens[end - 1])
            ema.append(self.ema[end - 1])
        return steps, tokens, loss, ema
