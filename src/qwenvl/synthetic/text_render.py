"""SynthDoG-style rendered text: words and short lines in several fonts, sizes, colours and small
rotations over paper-like backgrounds, optionally framed by coloured boxes or written on a sign.

The layout (a dataclass holding every text's exact pixel quad) is sampled first from the seed;
rendering draws each text through the same rotation that produced its quad, so the quad is the
rotated ink box of the text.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .backgrounds import Background, finish, render_background, sample_background
from .fonts import find_fonts, load_font
from .vocab import COLOUR
from .words import CHINESE, ENGLISH

Quad = tuple[tuple[float, float], ...]  # four pixel corners, clockwise from the text's top-left
Rect = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, right and bottom exclusive

PAPER, INK = (185, 240), ("black", "blue", "red", "green", "purple", "brown")  # light background, dark text
NIGHT, CHALK = (25, 75), ("white", "yellow", "cyan", "orange", "pink")  # dark background, light text
FRAME_COLOURS = ("red", "green", "blue", "orange")  # each visible on paper and on night backgrounds
SIGN_PLATES = {"blue": "white", "green": "white", "red": "white", "white": "black", "yellow": "black"}
_PAD = 3  # layer padding around the ink, so bicubic rotation has room


@dataclass(frozen=True)
class TextConfig:
    size: int = 224  # square images, side in pixels
    max_items: int = 4
    max_angle: float = 10.0  # degrees either way
    font_size: tuple[float, float] = (0.07, 0.15)  # as fractions of the image side
    gap: int = 8  # pixels kept free around each text (room for a frame)
    max_noise: float = 4.0
    placement_tries: int = 40


@dataclass(frozen=True)
class TextItem:
    text: str
    font: Path
    font_size: int
    rgb: tuple[int, int, int]
    angle: float  # degrees, counter-clockwise
    centre: tuple[float, float]  # pixel centre of the ink box
    quad: Quad

    @property
    def rect(self) -> Rect:
        """The pixel box around the quad (rounded outwards)."""
        return _rect(self.quad)

    def slice_rect(self, start: int, end: int) -> Rect:
        """The pixel box around the part of the quad that characters [start, end) take, placed by
        the font's advances along the text's own direction."""
        ends = (0.0, *_advances(self.font, self.font_size, self.text))
        a, b = (ends[k] / (ends[-1] or 1.0) for k in (start, end))
        tl, tr, br, bl = self.quad
        return _rect((_towards(tl, tr, a), _towards(tl, tr, b), _towards(bl, br, b), _towards(bl, br, a)))

    def char_at(self, x: float, y: float) -> str | None:
        """The character whose slice of the quad (placed as `slice_rect` places it) holds the pixel
        point, or None outside the quad and on a space."""
        tl, tr, _, bl = self.quad
        (ux, uy), (vx, vy), (px, py) = ((b[0] - a[0], b[1] - a[1]) for a, b in ((tl, tr), (tl, bl), (tl, (x, y))))
        u, v = (px * ux + py * uy) / (ux * ux + uy * uy), (px * vx + py * vy) / (vx * vx + vy * vy)
        if not (0 <= u < 1 and 0 <= v < 1):
            return None
        ends = _advances(self.font, self.font_size, self.text)
        k = min(bisect.bisect_right(ends, u * ends[-1]), len(self.text) - 1)  # the first ending past u
        return None if self.text[k].isspace() else self.text[k]


@dataclass(frozen=True)
class Sign:
    plate: Rect
    plate_rgb: tuple[int, int, int]
    pole: Rect
    item: int  # index of the text written on the plate


@dataclass(frozen=True)
class TextScene:
    width: int
    height: int
    lang: str
    items: tuple[TextItem, ...]
    frames: tuple[tuple[int, str, Rect], ...]  # (item index, colour name, pixel rect) of each drawn frame
    sign: Sign | None
    background: Background
    noise: float
    seed: int

    def reading_order(self) -> list[TextItem]:
        """Texts top to bottom, then left to right."""
        return sorted(self.items, key=lambda it: (it.rect[1], it.rect[0]))


@lru_cache(maxsize=1024)
def _advances(font_path: Path, font_size: int, text: str) -> tuple[float, ...]:
    """Where each character of `text` ends along its line, in pixels from its start."""
    font = load_font(font_path, font_size)
    return tuple(font.getlength(text[:k + 1]) for k in range(len(text)))


def glyph_owners(scene: TextScene, grid: int) -> list[str | None]:
    """Per cell of a grid×grid split of the picture (row-major), the character drawn over the cell's
    centre, or None: dense labels of what each patch reads (the text counterpart of `cell_owners`)."""
    step_x, step_y = scene.width / grid, scene.height / grid
    owners = []
    for row in range(grid):
        for col in range(grid):
            x, y = (col + 0.5) * step_x, (row + 0.5) * step_y
            owners.append(next((c for it in scene.items if (c := it.char_at(x, y)) is not None), None))
    return owners


def _towards(p: tuple[float, float], q: tuple[float, float], f: float) -> tuple[float, float]:
    return p[0] + (q[0] - p[0]) * f, p[1] + (q[1] - p[1]) * f


def _rect(quad: Quad) -> Rect:
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    return math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))


@lru_cache(maxsize=256)  # layout measures a text, rendering then draws it: reuse is local
def _ink_layer(font_path: Path, font_size: int, text: str) -> Image.Image:
    """The text's coverage cropped to its exact ink box, with `_PAD` blank pixels around it.

    Pillow's text box spans the glyph advances, wider than the ink by the side bearings; the
    drawn pixels are measured instead so quads are tight.
    """
    font = load_font(font_path, font_size)
    left, top, right, bottom = font.getbbox(text)
    m = 2 + font_size // 3  # room for ink beyond the metric box (italic overhangs)
    canvas = Image.new("L", (right - left + 2 * m, bottom - top + 2 * m), 0)
    ImageDraw.Draw(canvas).text((m - left, m - top), text, font=font, fill=255)
    x1, y1, x2, y2 = canvas.getbbox()
    return canvas.crop((x1 - _PAD, y1 - _PAD, x2 + _PAD, y2 + _PAD))


def _ink(font_path: Path, font_size: int, text: str) -> tuple[int, int]:
    """Width and height of the text's ink in pixels."""
    layer = _ink_layer(font_path, font_size, text)
    return layer.width - 2 * _PAD, layer.height - 2 * _PAD


def _rotate(dx: float, dy: float, angle: float) -> tuple[float, float]:
    """Rotate a centre-relative offset counter-clockwise on screen (y grows downwards)."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return c * dx + s * dy, -s * dx + c * dy


def _quad(centre: tuple[float, float], w: float, h: float, angle: float) -> Quad:
    corners = ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
    return tuple((centre[0] + rx, centre[1] + ry) for rx, ry in (_rotate(dx, dy, angle) for dx, dy in corners))


def _intersects(a: Rect, b: Rect, gap: int) -> bool:
    return a[0] - gap < b[2] and b[0] - gap < a[2] and a[1] - gap < b[3] and b[1] - gap < a[3]


def _text(rng: random.Random, lang: str, single_word: bool) -> str:
    if lang == "zh":
        return "".join(rng.choice(CHINESE) for _ in range(1 if single_word else rng.randint(1, 2)))
    words = [rng.choice(ENGLISH) for _ in range(1 if single_word else rng.randint(1, 3))]
    style = rng.random()
    text = " ".join(words)
    return text.upper() if style < 0.1 else text.capitalize() if style < 0.3 else text


def _jitter(rng: random.Random, colour: str) -> tuple[int, int, int]:
    return tuple(min(max(v + rng.randint(-15, 15), 0), 255) for v in COLOUR[colour].rgb)


def _place(rng: random.Random, cfg: TextConfig, text: str, font_path: Path, rgb, taken: list[Rect],
           angle: float) -> TextItem | None:
    """Fit `text` somewhere free, shrinking the font while it cannot fit the image at all."""
    side, margin = cfg.size, cfg.gap // 2 + 1  # the margin leaves room for a frame inside the image
    font_size = max(8, int(rng.uniform(*cfg.font_size) * side))
    while font_size >= 8:
        w, h = _ink(font_path, font_size, text)
        x1, y1, x2, y2 = _rect(_quad((0.0, 0.0), w, h, angle))
        lo_x, hi_x, lo_y, hi_y = margin - x1, side - margin - x2, margin - y1, side - margin - y2
        if lo_x <= hi_x and lo_y <= hi_y:
            for _ in range(cfg.placement_tries):
                c = (rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y))
                item = TextItem(text, font_path, font_size, rgb, angle, c, _quad(c, w, h, angle))
                if not any(_intersects(item.rect, r, cfg.gap) for r in taken):
                    return item
            return None
        font_size = int(font_size * 0.8)
    return None


def _sign(rng: random.Random, cfg: TextConfig, font_path: Path, lang: str) -> tuple[Sign, TextItem]:
    """A plate on a pole with one word centred on it, in the upper part of the image."""
    side = cfg.size
    plate_colour = rng.choice(sorted(SIGN_PLATES))
    word = _text(rng, lang, single_word=True)
    pad = max(4, int(0.03 * side))
    font_size = max(8, int(rng.uniform(0.09, 0.14) * side))
    while (w := _ink(font_path, font_size, word)[0]) + 2 * pad > side - 4 and font_size > 8:
        font_size -= 1
    h = _ink(font_path, font_size, word)[1]
    pw, ph = w + 2 * pad, h + 2 * pad
    x, y = rng.randint(2, max(2, side - 2 - pw)), rng.randint(2, max(2, int(side * 0.55) - ph))
    plate = (x, y, x + pw, y + ph)
    pole_w = max(3, side // 40)
    pole_x = x + pw // 2 - pole_w // 2
    centre = (x + pw / 2, y + ph / 2)
    item = TextItem(word, font_path, font_size, _jitter(rng, SIGN_PLATES[plate_colour]), 0.0, centre,
                    _quad(centre, w, h, 0.0))
    return Sign(plate, _jitter(rng, plate_colour), (pole_x, y + ph, pole_x + pole_w, side), 0), item


def sample_text_scene(seed: int, lang: str, config: TextConfig = TextConfig(), *, frames: int = 0,
                      sign: bool = False) -> TextScene:
    """A layout of 1–`max_items` texts; `frames` of them boxed in distinct colours, or a `sign` first."""
    rng = random.Random(seed)
    fonts = find_fonts()
    font_pool = fonts.cjk if lang == "zh" else fonts.latin
    dark = rng.random() < 0.3
    background = sample_background(rng, NIGHT if dark else PAPER, tint=12)
    ink = CHALK if dark else INK
    items: list[TextItem] = []
    taken: list[Rect] = []
    the_sign = None
    if sign:
        the_sign, sign_item = _sign(rng, config, rng.choice(font_pool), lang)
        items.append(sign_item)
        taken += [the_sign.plate, the_sign.pole]
    n = max(rng.randint(1, config.max_items), frames)
    angle_limit = config.max_angle if rng.random() < 0.7 else 0.0
    while len(items) < n + bool(sign):
        text = _text(rng, lang, single_word=bool(frames))  # framed texts are single words
        angle = rng.uniform(-angle_limit, angle_limit)
        item = _place(rng, config, text, rng.choice(font_pool), _jitter(rng, rng.choice(ink)), taken, angle)
        if item is None:
            break
        items.append(item)
        taken.append(item.rect)
    framed = rng.sample(range(int(bool(sign)), len(items)), min(frames, len(items) - int(bool(sign))))
    g = config.gap // 2
    drawn = tuple((i, colour, (items[i].rect[0] - g, items[i].rect[1] - g, items[i].rect[2] + g, items[i].rect[3] + g))
                  for i, colour in zip(framed, rng.sample(FRAME_COLOURS, len(framed))))
    return TextScene(config.size, config.size, lang, tuple(items), drawn, the_sign, background,
                     rng.uniform(0, config.max_noise), seed)


def item_alpha(item: TextItem) -> tuple[int, int, np.ndarray]:
    """The text's coverage (0–1 floats) over its pixel box, with the box's top-left corner."""
    layer = _ink_layer(item.font, item.font_size, item.text)
    x1, y1, x2, y2 = item.rect
    ox, oy = x1 - 1, y1 - 1  # one pixel of margin for the bicubic fringe
    c, s = math.cos(math.radians(item.angle)), math.sin(math.radians(item.angle))
    px, py = item.centre[0] - ox, item.centre[1] - oy  # the ink centre in region coordinates
    cu, cv = layer.width / 2, layer.height / 2
    inverse = (c, -s, cu - c * px + s * py, s, c, cv - s * px - c * py)  # region pixel → layer pixel
    region = layer.transform((x2 - x1 + 2, y2 - y1 + 2), Image.AFFINE, inverse, resample=Image.BICUBIC)
    return ox, oy, np.asarray(region, dtype=np.float32) / 255.0


def _blend(pixels: np.ndarray, ox: int, oy: int, alpha: np.ndarray, rgb) -> None:
    """Paint `rgb` with coverage `alpha` at (ox, oy), clipped to the image."""
    h, w = pixels.shape[:2]
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + alpha.shape[1], w), min(oy + alpha.shape[0], h)
    a = alpha[y0 - oy:y1 - oy, x0 - ox:x1 - ox, None]
    pixels[y0:y1, x0:x1] = pixels[y0:y1, x0:x1] * (1 - a) + np.asarray(rgb, dtype=np.float32) * a


def render_text_scene(scene: TextScene) -> Image.Image:
    """Background, sign, texts, frames, then noise."""
    pixels = render_background(scene.background, scene.width, scene.height)
    if scene.sign:
        for rect, rgb in ((scene.sign.pole, (70, 70, 70)), (scene.sign.plate, scene.sign.plate_rgb)):
            pixels[rect[1]:rect[3], rect[0]:rect[2]] = rgb
    for item in scene.items:
        _blend(pixels, *item_alpha(item), item.rgb)
    for _, colour, (x1, y1, x2, y2) in scene.frames:
        rgb = COLOUR[colour].rgb
        pixels[y1:y1 + 2, x1:x2] = rgb
        pixels[y2 - 2:y2, x1:x2] = rgb
        pixels[y1:y2, x1:x1 + 2] = rgb
        pixels[y1:y2, x2 - 2:x2] = rgb
    return finish(pixels, scene.noise, scene.seed)
