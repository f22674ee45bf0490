"""What several views' widgets draw with: theme colours as Rich can use them, the square-root
colour ramp (heatmap, head maps, vector strips) and eighth-cell bars (attention, candidates,
the sampling pipeline). Kept out of any one widget, so no widget borrows from another.
"""

from __future__ import annotations

import math

from textual.color import Color

EIGHTHS = " ▏▎▍▌▋▊▉█"


def theme_color(variables: dict[str, str], name: str, fallback: str = "foreground") -> str:
    """A theme variable as an opaque hex colour (Rich cannot draw Textual's alpha colours)."""
    color = Color.parse(variables.get(name) or variables[fallback])
    return (Color.parse(variables["surface"]) + color).hex if color.a < 1 else color.hex


def scale(weight: float) -> float:
    """Square-root scale, so the small weights of long contexts still show."""
    return math.sqrt(min(1.0, max(0.0, weight)))


class ColorScale:
    """Maps a weight in [0, 1] to a colour between the theme's surface and its primary."""

    def __init__(self, low: Color, high: Color) -> None:
        self.low, self.high = low, high
        self._cache: dict[int, str] = {}

    @classmethod
    def from_theme(cls, variables: dict[str, str], high: str = "primary") -> ColorScale:
        return cls(Color.parse(theme_color(variables, "surface")), Color.parse(variables[high]))

    def __call__(self, weight: float) -> str:
        level = round(scale(weight) * 32)
        if level not in self._cache:
            self._cache[level] = self.low.blend(self.high, level / 32).hex
        return self._cache[level]


def bar(fraction: float, width: int) -> str:
    """A bar `width` cells long at full scale, with eighth-cell resolution."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)
