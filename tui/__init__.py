"""llm-learns terminal UI (Textual). Importing the package stays cheap: no textual, no torch."""

from __future__ import annotations

from typing import Any


def run_app(*args: Any, **kwargs: Any) -> int:
    """Open the TUI; see tui.app.run_app. Textual loads only when this is called."""
    from tui.app import run_app as _run_app

    return _run_app(*args, **kwargs)


__all__ = ["run_app"]
