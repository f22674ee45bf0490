"""matplotlib for the report: loaded on first use (it is an optional extra, and heavy), set up
once, and each figure turned into SVG that can sit inside a web page and fetches nothing.

matplotlib's SVG names its namespaces, DTD and metadata by URL, and every figure numbers its ids
from the same hash: inside one page, ids must not collide, and the page must name no address. So
the prolog, the metadata and the xmlns attributes go (an HTML parser puts <svg> in the SVG
namespace itself), and each figure's ids get a prefix of their own.
"""

from __future__ import annotations

import io
import re
import warnings
from typing import Any

from engine.contract.errors import EngineError

INSTALL_HINT = "pip install 'llm-learns[report]'"
# The app's theme colours (Textual's textual-dark), so the report reads like the app.
PRIMARY, ACCENT, ERROR, SUCCESS, MUTED = "#0178d4", "#e58e00", "#ba3c5b", "#3a9d5d", "#8a8a8a"
PHASE = "#7b3fbf"  # phase changes: a colour no curve uses
STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, searchable
    "svg.hashsalt": "llm-learns",  # the same run gives the same file
    "text.parse_math": False,  # a token such as "$x$" is text, not TeX
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial", "Liberation Sans"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "image.interpolation": "none",  # a heatmap's cell is a cell: no smoothing, no resampling
}
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_IDS = re.compile(r'(\bid="|url\(#|href="#)')
_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')

_loaded: Any = None


def matplotlib() -> Any:
    """The matplotlib module, imported now; EngineError with the install hint if it is missing."""
    global _loaded
    if _loaded is None:
        try:
            import matplotlib as mpl
            import matplotlib.figure  # noqa: F401 - Figure, without pyplot's global state
        except ImportError:
            raise EngineError(f"a report needs matplotlib: {INSTALL_HINT}") from None
        _loaded = mpl
    return _loaded


def figure(width: float, height: float, **kwargs: Any) -> Any:
    """A new Figure (inches), drawn through the SVG backend only: no pyplot, no window."""
    return matplotlib().figure.Figure(figsize=(width, height), **kwargs)


class Svg:
    """Turns figures into SVG for the page, each with ids of its own."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: Any) -> str:
        self.count += 1
        buffer = io.StringIO()
        with matplotlib().rc_context(STYLE), warnings.catch_warnings():
            # Text stays text, drawn in the browser's fonts: a glyph that matplotlib's font
            # lacks (␛, CJK) only makes its measure of the label a little off.
            warnings.filterwarnings("ignore", "Glyph .* missing", UserWarning)
            fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        return clean_svg(buffer.getvalue(), f"f{self.count}-")


def clean_svg(svg: str, prefix: str) -> str:
    """matplotlib's SVG as an element for a web page: no prolog, metadata or namespace URLs, ids
    prefixed, and a size the page can shrink (its width in CSS pixels, at most)."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = _METADATA.sub("", svg, count=1)
    svg = _XMLNS.sub("", svg)
    svg = _IDS.sub(lambda match: match[1] + prefix, svg)
    return _SIZE.sub(
        lambda m: f'<svg width="{float(m[1]) * 4 / 3:.0f}" height="{float(m[2]) * 4 / 3:.0f}"',
        svg,
        count=1,
    )


def styled(draw: Any) -> Any:
    """Run `draw` (which builds figures) with the report's style in force."""
    with matplotlib().rc_context(STYLE):
        return draw()
