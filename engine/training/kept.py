"""Weights kept from past evals, so that the model can be asked as it was ("what did it say at
step 300?"): Generate, Inside and Attention on a replayed step.

Each eval's weights go to kept/step-NNNNNNNN.safetensors (owner-only, weights alone), thinned to
`keep_checkpoints` files spread over the run (see thinned). A step between kept ones is shown by
the nearest kept step before it, and the answer says which step that was.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from engine.model.gpt import GPT
from engine.training.checkpoint import save_weights

KEPT_DIR = "kept"
_NAME = re.compile(r"step-(\d{8,})\.safetensors")


def kept_path(run_dir: Path, step: int) -> Path:
    return run_dir / KEPT_DIR / f"step-{step:08d}.safetensors"


def kept_steps(run_dir: Path) -> list[int]:
    """The steps whose weights are kept, in order."""
    try:
        names = [p.name for p in (run_dir / KEPT_DIR).iterdir()]
    except OSError:
        return []
    return sorted(int(m[1]) for name in names if (m := _NAME.fullmatch(name)))


def keep(run_dir: Path, model: GPT, step: int, limit: int) -> None:
    """Keep this step's weights, then thin the kept steps to `limit` (0 keeps none)."""
    if limit <= 0:
        return
    save_weights(kept_path(run_dir, step), model, step)
    steps = kept_steps(run_dir)
    for dropped in thinned(steps, limit):
        kept_path(run_dir, dropped).unlink(missing_ok=True)


def thinned(steps: list[int], limit: int) -> list[int]:
    """Which of `steps` (sorted; the last is the latest) to drop to keep `limit` of them.

    The latest stays; of the others, those on a grid of multiples of a stride that doubles as
    the run grows (from the steps' own spacing), so the kept steps cover the run evenly (at most
    twice the gap a perfect spread would leave) and a step once dropped is never wanted again.
    """
    if len(steps) <= max(limit, 1):
        return []
    *earlier, latest = steps
    if limit <= 1:
        return earlier
    stride = max(1, math.gcd(*earlier))
    while sum(1 for step in earlier if step % stride == 0) > limit - 1:
        stride *= 2
    return [step for step in earlier if step % stride]


def nearest_kept(run_dir: Path, step: int) -> int | None:
    """The latest kept step at or before `step` (else the earliest kept one), or None."""
    steps = kept_steps(run_dir)
    before = [s for s in steps if s <= step]
    return before[-1] if before else (steps[0] if steps else None)
