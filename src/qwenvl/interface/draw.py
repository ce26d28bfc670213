"""Grounding drawn on an image, deterministically.

The official helper picks random colours and draws with matplotlib and a downloaded SimSun
font; here colours come from a fixed palette and labels use a CJK font found on the system,
degrading to '?' for glyphs the available font lacks.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess

from PIL import Image, ImageDraw, ImageFont

from .grounding import Box, Quad, parse_grounding
from .list_format import image_sources

# matplotlib's Tableau colours, the set the official code samples from.
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
FONT_ENV = "QWENVL_FONT"
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
_UNMAPPED = "\U0010fffd"  # a private-use code point no font maps: it renders as the missing glyph


def find_cjk_font() -> str | None:
    """A font file able to draw Chinese labels: $QWENVL_FONT, a known system path, or fontconfig's."""
    override = os.environ.get(FONT_ENV)
    if override:
        if not os.path.isfile(override):
            raise FileNotFoundError(f"{FONT_ENV}={override!r} is not a font file")
        return override
    return _system_cjk_font()


@functools.lru_cache(maxsize=1)
def _system_cjk_font() -> str | None:
    for path in CJK_FONT_PATHS:
        if os.path.isfile(path):
            return path
    return _fontconfig_cjk_font()


def _fontconfig_cjk_font() -> str | None:
    """The first (sorted) font file fontconfig lists for Chinese, when fontconfig is installed."""
    if shutil.which("fc-list") is None:
        return None
    listing = subprocess.run(["fc-list", "--format", "%{file}\n", ":lang=zh"],
                             capture_output=True, text=True, timeout=30, check=False).stdout
    paths = sorted(p for p in listing.splitlines() if p.lower().endswith((".ttf", ".ttc", ".otf", ".otc")))
    return paths[0] if paths else None


def load_label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A CJK-capable font when one is found, else Pillow's built-in font (Latin only)."""
    path = find_cjk_font()
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


def renderable_text(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """`text` with the characters `font` has no glyph for replaced by '?' (not tofu, not an error)."""
    if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow's bitmap font only encodes Latin-1
        return text.encode("latin-1", "replace").decode("latin-1")
    missing = _glyph_pixels(font, _UNMAPPED)
    return "".join(ch if ch.isspace() or _glyph_pixels(font, ch) != missing else "?" for ch in text)


def _glyph_pixels(font: ImageFont.FreeTypeFont, ch: str) -> tuple[tuple[int, int], bytes]:
    _, _, right, bottom = font.getbbox(ch)
    image = Image.new("L", (max(right, 1), max(bottom, 1)))
    ImageDraw.Draw(image).text((0, 0), ch, font=font, fill=255)
    return image.size, image.tobytes()


def _colours(items: list[Box | Quad]) -> list[tuple[int, int, int]]:
    """One palette colour per distinct ref, in order of appearance; each ref-less item gets its own."""
    index: dict[str, int] = {}
    colours, n = [], 0
    for item in items:
        if item.ref is None or item.ref not in index:
            k, n = n, n + 1
            if item.ref is not None:
                index[item.ref] = k
        else:
            k = index[item.ref]
        colours.append(PALETTE[k % len(PALETTE)])
    return colours


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def _draw_label(draw: ImageDraw.ImageDraw, text: str, anchor: tuple[int, int], colour, font, pad: int,
                image_width: int) -> None:
    """The label on a filled box just above `anchor` (below it at the top edge), kept inside the image."""
    text = renderable_text(" ".join(text.split()), font)
    if not text:
        return
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    x, y = anchor
    y = y - h if y >= h else y
    x = max(min(x, image_width - w), 0)
    draw.rectangle((x, y, x + w - 1, y + h - 1), fill=colour)
    draw.text((x + pad - left, y + pad - top), text, font=font, fill=_text_colour(colour))


def draw_grounding(image: Image.Image, items: list[Box | Quad], *,
                   font_size: int | None = None) -> Image.Image:
    """A new RGB image with each box/quad outlined and labelled with its ref.

    Sizes follow the official visualiser: font size sqrt(w·h) // 30 (at least 15), lines a
    quarter of that. Alpha is dropped, as the official code's `convert("RGB")` does.
    """
    canvas = image.convert("RGB")
    width, height = canvas.size
    scale = max(math.sqrt(width * height) // 30, 15)
    line = max(round(scale / 4), 1)
    font = load_label_font(font_size or int(scale))
    draw = ImageDraw.Draw(canvas)
    colours = _colours(items)
    anchors = []
    for item, colour in zip(items, colours):
        if isinstance(item, Box):
            x1, y1, x2, y2 = item.to_pixels(width, height)
            x1, x2 = sorted((x1, x2))
            y1, y2 = sorted((y1, y2))
            draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
            anchors.append((x1, y1))
        else:
            points = item.to_pixels(width, height)
            draw.polygon(points, outline=colour, width=line)
            anchors.append(points[0])
    for item, colour, anchor in zip(items, colours, anchors):  # labels last, above every outline
        if item.ref is not None:
            _draw_label(draw, item.ref, anchor, colour, font, max(line // 2, 1), width)
    return canvas


def draw_on_latest_picture(response: str, history: list | None = None, **limits) -> Image.Image | None:
    """The official `draw_bbox_on_latest_picture`: the response's items on the latest image.

    Like the official code, the image is the last `<img>` of the response, else of the most
    recent query in `history` (a list of (query, response) pairs); None when there is no image
    or nothing to draw. `limits` are `ImageLimits` fields for loading the image.
    """
    queries = [response] + [query for query, _ in reversed(history or [])]
    source = next((image_sources(q)[-1] for q in queries if image_sources(q)), None)
    items = parse_grounding(response)
    if source is None or not items:
        return None
    from ..data.images import ImageLimits, load_image

    return draw_grounding(load_image(source, ImageLimits(**limits)), items)
