"""Benchmarks and developer tools: not part of the installed packages, never run by the tests.

    python -m bench.engine     training, generation, the worker, start-up, contention, GPU
    python -m bench.tui        the TUI's first frame and chart redraws (bench.tui.memory: RSS)
    python -m bench.live       the TUI in tmux: training with it open, key presses to the screen
    python -m bench.screenshots   the README's screenshots of each view

They live outside engine/ and tui/ because they need what a user's install does not have (tmux,
the benchmark corpus, both packages at once) and would otherwise ship to every user.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
# The benchmark corpus is read where it lies, never copied in: beside the checkout here, inside
# it on a machine the checkout was sent to with its shared/ folder.
_SHAKESPEARE = [p / "shared/data/tinyshakespeare.txt" for p in (ROOT, ROOT.parent)]
SHAKESPEARE = next((p for p in _SHAKESPEARE if p.exists()), _SHAKESPEARE[-1])


def corpus_for(preset: str) -> Path:
    """tinyshakespeare for the char presets when it is there (the published figures use it)."""
    from engine.contract.config import DEFAULT_CORPUS  # what an empty corpus setting means

    return SHAKESPEARE if preset != "seed" and SHAKESPEARE.exists() else DEFAULT_CORPUS


def step_rates(run_dir: Path, warmup: int = 20) -> list[float]:
    """tokens/s of every logged step past the warm-up, read from the run's events.jsonl."""
    rates = []
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["kind"] == "step" and event["step"] > warmup:
            rates.append(event["tokens_per_s"])
    return rates


def steps_done(run_dir: Path) -> int:
    path = run_dir / "events.jsonl"
    from engine.contract.codec import line_prefix

    return path.read_bytes().count(line_prefix("step")) if path.exists() else 0


def latency_figures(name: str, timings: list[float]) -> dict:
    """Median and 90th percentile of a list of milliseconds, as JSON-ready figures."""
    ordered = sorted(timings)
    return {
        f"{name}_ms_median": round(statistics.median(ordered), 1),
        f"{name}_ms_p90": round(ordered[int(len(ordered) * 0.9)], 1),
    }
