"""Small text helpers every view shares: one-line errors, durations, rates, cheap Static updates."""

from __future__ import annotations

from textual.widgets import Static


def one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def set_text(widget: Static, text: str) -> None:
    """Update a Static, skipping the update if nothing changed and the (costly) screen layout
    pass if its width stays the same: while training this runs several times a second."""
    previous = getattr(widget, "_shown_text", None)
    if text == previous:
        return
    widget._shown_text = text
    widget.update(text, layout=previous is None or len(previous) != len(text))


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(tokens_per_s: float) -> str:
    if tokens_per_s >= 10_000:
        return f"{tokens_per_s / 1000:.0f}k"
    if tokens_per_s >= 1000:
        return f"{tokens_per_s / 1000:.1f}k"
    return f"{tokens_per_s:.0f}"
