"""Shape outlines as polygons that exactly span their box, so a drawn object's pixels fill its box edge to edge.

Each outline is defined on the unit square and stretched to the box; the box is therefore the
object's tight pixel box, which the grounding tasks rely on.
"""

from __future__ import annotations

import math
from functools import cache

from PIL import ImageDraw

Point = tuple[float, float]


def _fit(points: list[Point]) -> tuple[Point, ...]:
    """Scale points so they span [0, 1] on both axes."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0, w, h = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    return tuple(((x - x0) / w, (y - y0) / h) for x, y in points)


def _regular(n: int, start: float, radii: tuple[float, ...] = (1.0,)) -> list[Point]:
    """n vertices (times len(radii)) around a circle, y down, alternating radii."""
    k = n * len(radii)
    return [(radii[i % len(radii)] * math.cos(start + 2 * math.pi * i / k),
             radii[i % len(radii)] * math.sin(start + 2 * math.pi * i / k)) for i in range(k)]


def _heart() -> list[Point]:
    ts = [2 * math.pi * i / 72 for i in range(72)]
    return [(16 * math.sin(t) ** 3, -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)))
            for t in ts]


def _moon() -> list[Point]:
    """A crescent: the unit circle minus the same circle shifted right by 0.6."""
    d, n = 0.6, 36
    yt = math.sqrt(1 - d * d / 4)
    a, b = math.atan2(yt, d / 2), math.atan2(yt, -d / 2)  # the horns, seen from each centre
    outer = [(math.cos(t), math.sin(t)) for t in (a + (2 * math.pi - 2 * a) * i / n for i in range(n + 1))]
    inner = [(d + math.cos(t), math.sin(t)) for t in (2 * math.pi - b - (2 * math.pi - 2 * b) * i / n
                                                      for i in range(1, n))]
    return outer + inner


_OUTLINES = {
    "square": [(0, 0), (1, 0), (1, 1), (0, 1)],
    "triangle": [(0.5, 0), (1, 1), (0, 1)],
    "star": _regular(5, -math.pi / 2, (1.0, 0.45)),
    "diamond": [(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)],
    "hexagon": _regular(6, 0.0),
    "cross": [(0.35, 0), (0.65, 0), (0.65, 0.35), (1, 0.35), (1, 0.65), (0.65, 0.65), (0.65, 1), (0.35, 1),
              (0.35, 0.65), (0, 0.65), (0, 0.35), (0.35, 0.35)],
    "heart": _heart(),
    "arrow": [(0, 0.3), (0.55, 0.3), (0.55, 0), (1, 0.5), (0.55, 1), (0.55, 0.7), (0, 0.7)],
    "house": [(0.5, 0), (1, 0.45), (0.88, 0.45), (0.88, 1), (0.12, 1), (0.12, 0.45), (0, 0.45)],
    "moon": _moon(),
}


@cache
def unit_outline(shape: str) -> tuple[Point, ...]:
    """The shape's polygon on the unit square (circles are drawn as ellipses instead)."""
    return _fit(_OUTLINES[shape])


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], fill) -> None:
    """Draw `shape` filling the pixels of `box` = (x1, y1, x2, y2), right and bottom exclusive."""
    x1, y1, x2, y2 = box
    if shape == "circle":
        draw.ellipse((x1, y1, x2 - 1, y2 - 1), fill=fill)
        return
    w, h = x2 - 1 - x1, y2 - 1 - y1
    draw.polygon([(x1 + u * w, y1 + v * h) for u, v in unit_outline(shape)], fill=fill)
