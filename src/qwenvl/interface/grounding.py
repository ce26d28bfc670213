"""Grounding text ⇄ boxes: the one definition of `<ref>`, `<box>` and `<quad>` strings.

Qwen-VL (arXiv 2308.12966) writes a box as `<box>(x1,y1),(x2,y2)</box>` with integers on a
[0, 1000) grid scaled by the image's width and height; `<ref>phrase</ref>` names what the boxes
right after it belong to, and OCR regions are `<quad>` with four corners. Training, evaluation
and serving all import this module so the format cannot drift between them.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from . import special_tokens as st

GRID = 1000  # coordinates are integers in [0, GRID)

_TAG = re.compile("|".join(re.escape(t) for t in (st.REF_START, st.REF_END, st.BOX_START, st.BOX_END,
                                                   st.QUAD_START, st.QUAD_END)))
_KIND = {st.REF_START: "ref", st.BOX_START: "box", st.QUAD_START: "quad"}
_END = {st.REF_START: st.REF_END, st.BOX_START: st.BOX_END, st.QUAD_START: st.QUAD_END}
_POINT = r"\(\s*(\d+)\s*,\s*(\d+)\s*\)"
_SEP = r"\s*,\s*"
_BOX_BODY = re.compile(r"\s*" + _SEP.join([_POINT] * 2) + r"\s*")
_QUAD_BODY = re.compile(r"\s*" + _SEP.join([_POINT] * 4) + r"\s*")


def _grid_int(value, name: str) -> int:
    """A grid coordinate as a plain int; floats are refused so pixel values cannot slip through."""
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer on the [0, {GRID}) grid, got {value!r}") from None
    if not 0 <= v < GRID:
        raise ValueError(f"{name}={v} is outside the [0, {GRID}) grid")
    return v


def _check_size(width, height) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")


def _to_pixel(v: int, size: int) -> int:
    return int(v / GRID * size)  # the official drawing code's formula, float rounding included


@dataclass(frozen=True)
class Box:
    """An axis-aligned box on the [0, 1000) grid; `ref` is the phrase it grounds, if any."""

    ref: str | None
    x1: int
    y1: int
    x2: int
    y2: int

    def __post_init__(self):
        for name in ("x1", "y1", "x2", "y2"):
            object.__setattr__(self, name, _grid_int(getattr(self, name), name))

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Pixel corners as the official `draw_bbox_on_latest_picture` computes them."""
        _check_size(width, height)
        return (_to_pixel(self.x1, width), _to_pixel(self.y1, height),
                _to_pixel(self.x2, width), _to_pixel(self.y2, height))

    def to_pixels_999(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Float pixel corners as the official RefCOCO evaluator computes them (v / 999 * size)."""
        _check_size(width, height)
        return (self.x1 / 999 * width, self.y1 / 999 * height,
                self.x2 / 999 * width, self.y2 / 999 * height)

    def normalized(self) -> tuple[float, float, float, float]:
        """Corners as fractions of the image size, in [0, 1)."""
        return (self.x1 / GRID, self.y1 / GRID, self.x2 / GRID, self.y2 / GRID)


@dataclass(frozen=True)
class Quad:
    """A four-corner OCR region on the [0, 1000) grid; `ref` is the text it holds, if any."""

    ref: str | None
    points: tuple[tuple[int, int], ...]

    def __post_init__(self):
        points = tuple(tuple(p) for p in self.points)
        if len(points) != 4 or any(len(p) != 2 for p in points):
            raise ValueError(f"a quad needs four (x, y) points, got {self.points!r}")
        object.__setattr__(self, "points", tuple((_grid_int(x, "x"), _grid_int(y, "y")) for x, y in points))

    def to_pixels(self, width: int, height: int) -> tuple[tuple[int, int], ...]:
        """Pixel corners, with the same formula as `Box.to_pixels`."""
        _check_size(width, height)
        return tuple((_to_pixel(x, width), _to_pixel(y, height)) for x, y in self.points)


def _parse_body(kind: str, body: str, ref: str | None) -> Box | Quad | None:
    """The item a `<box>`/`<quad>` body describes, or None when it is not well formed."""
    m = (_BOX_BODY if kind == "box" else _QUAD_BODY).fullmatch(body)
    if m is None:
        return None
    v = [int(g) for g in m.groups()]
    if any(c >= GRID for c in v):
        return None
    if kind == "box":
        return Box(ref, *v)
    return Quad(ref, tuple(zip(v[0::2], v[1::2])))


def _scan(text: str) -> tuple[list[Box | Quad], int]:
    """Items in order of appearance and the number of malformed `<box>`/`<quad>` elements.

    A ref applies to the boxes and quads that follow it with only whitespace in between (so
    `<ref>bees</ref><box>…</box><box>…</box>` gives two "bees" boxes); any other text ends it.
    An element that is unclosed, or whose body is not the expected points on the grid, is
    malformed. A ref without its closing tag is ordinary text.
    """
    items: list[Box | Quad] = []
    malformed = 0
    ref = None
    tags = list(_TAG.finditer(text))
    consumed = 0  # end of the last complete element
    i = 0
    while i < len(tags):
        tag = tags[i].group()
        closed = tag in _END and i + 1 < len(tags) and tags[i + 1].group() == _END[tag]
        if not closed:
            malformed += tag in (st.BOX_START, st.QUAD_START)
            i += 1
            continue
        if text[consumed:tags[i].start()].strip():
            ref = None
        body = text[tags[i].end():tags[i + 1].start()]
        consumed = tags[i + 1].end()
        i += 2
        kind = _KIND[tag]
        if kind == "ref":
            ref = body.strip() or None
            continue
        item = _parse_body(kind, body, ref)
        if item is None:
            malformed += 1
        else:
            items.append(item)
    return items, malformed


def parse_grounding(text: str) -> list[Box | Quad]:
    """Boxes and quads of a model response, in order; malformed ones are skipped (see `count_malformed`)."""
    return _scan(text)[0]


def count_malformed(text: str) -> int:
    """How many `<box>`/`<quad>` elements of `text` could not be parsed — for evaluation reports."""
    return _scan(text)[1]


def format_box(x1: int, y1: int, x2: int, y2: int) -> str:
    """`<box>(x1,y1),(x2,y2)</box>` from grid coordinates (see `normalize_box` for pixels)."""
    b = Box(None, x1, y1, x2, y2)
    return f"{st.BOX_START}({b.x1},{b.y1}),({b.x2},{b.y2}){st.BOX_END}"


def format_quad(points) -> str:
    """`<quad>(x1,y1),…,(x4,y4)</quad>` from four grid points."""
    q = Quad(None, points)
    return st.QUAD_START + ",".join(f"({x},{y})" for x, y in q.points) + st.QUAD_END


def format_ref(text: str) -> str:
    """`<ref>text</ref>`; text holding a grounding tag is refused since it would not parse back."""
    if _TAG.search(text):
        raise ValueError(f"ref text must not contain grounding tags: {text!r}")
    return f"{st.REF_START}{text}{st.REF_END}"


def normalize_box(pixel_box, width: int, height: int) -> tuple[int, int, int, int]:
    """Pixel corners → grid: int(v / size * 1000) clipped to [0, 999].

    Computed as v * 1000 / size so integer pixels land exactly (v / size * 1000 can fall a
    hair short of a whole number and lose one unit).
    """
    _check_size(width, height)
    x1, y1, x2, y2 = pixel_box
    return tuple(min(max(int(v * GRID / size), 0), GRID - 1)
                 for v, size in ((x1, width), (y1, height), (x2, width), (y2, height)))


def grounding_to_dict(item: Box | Quad, width: int, height: int) -> dict:
    """A JSON-ready item: its ref, grid coordinates and pixel coordinates for a width×height image."""
    if isinstance(item, Box):
        return {"type": "box", "ref": item.ref, "box": [item.x1, item.y1, item.x2, item.y2],
                "pixel_box": list(item.to_pixels(width, height))}
    return {"type": "quad", "ref": item.ref, "quad": [list(p) for p in item.points],
            "pixel_quad": [list(p) for p in item.to_pixels(width, height)]}
