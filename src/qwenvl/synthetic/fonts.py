"""Locating fonts for rendered text among Debian font packages that scripts/setup.sh installs.

Only fonts that can be installed by name are looked for, so every machine that runs the
project's setup finds the same set, in the same order, and renders the same pixels for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# (file, Debian package, has Chinese glyphs)
SYSTEM_FONTS = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "fonts-dejavu-core", False),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", "fonts-dejavu-core", False),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", "fonts-dejavu-core", False),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "fonts-wqy-microhei", True),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "fonts-wqy-zenhei", True),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "fonts-noto-cjk", True),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", "fonts-noto-cjk", True),
)
INSTALL_HINT = "apt-get install fonts-dejavu-core fonts-wqy-microhei (scripts/setup.sh does)"
_CJK_PROBE = "中文字体"
_LATIN_PROBE = "AaGg09"
_UNMAPPED = "\U0010fffd"  # a private-use code point no font maps: it draws the missing-glyph box


class FontsNotFound(RuntimeError):
    """No usable font of a needed kind is installed."""


@dataclass(frozen=True)
class FontSet:
    latin: tuple[Path, ...]  # fonts for English text (CJK fonts are included: they carry Latin too)
    cjk: tuple[Path, ...]  # fonts for Chinese text


@lru_cache(maxsize=512)
def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    image = Image.new("L", (48, 48), 0)
    ImageDraw.Draw(image).text((4, 4), ch, font=font, fill=255)
    return image.tobytes()


def covers(path: Path, text: str) -> bool:
    """Whether the font draws every character of `text` as a real glyph, not the missing-glyph box."""
    font = load_font(path, 32)
    missing = _glyph(font, _UNMAPPED)
    return all(_glyph(font, ch) != missing for ch in text if not ch.isspace())


def _candidates() -> list[tuple[Path, bool]]:
    return [(Path(p), cjk) for p, _, cjk in SYSTEM_FONTS if Path(p).is_file()]


@cache
def find_fonts() -> FontSet:
    """The installed fonts, each checked to draw its script; raises FontsNotFound naming what to install."""
    latin, cjk = [], []
    for path, is_cjk in _candidates():
        if is_cjk and covers(path, _CJK_PROBE + _LATIN_PROBE):
            cjk.append(path)
            latin.append(path)
        elif covers(path, _LATIN_PROBE):
            latin.append(path)
    if not cjk:
        raise FontsNotFound(f"no font with Chinese glyphs found; install one: {INSTALL_HINT}")
    return FontSet(tuple(latin), tuple(cjk))
