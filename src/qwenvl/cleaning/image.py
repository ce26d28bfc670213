"""Bounded image decoding, the perceptual hash for near-duplicates, and gallery thumbnails."""

from __future__ import annotations

import base64
import io
import re
import warnings

import numpy as np
from PIL import Image


class BadImage(Exception):
    """The image was refused; the message is the detail shown in stats and the gallery."""


def decode_bounded(data: bytes, max_bytes: int, max_pixels: int) -> Image.Image:
    """Decode to RGB, refusing oversized files and pixel counts before decoding any pixel.

    Pillow raises many exception types on malformed input (OSError, ValueError, SyntaxError,
    struct.error, EOFError ...), so any exception from it means "does not decode".
    """
    if len(data) > max_bytes:
        raise BadImage(f"{len(data)} bytes > max_bytes {max_bytes}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bomb and palette warnings: we decide ourselves
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as e:
            raise BadImage(f"decompression bomb refused by the header check: {e}") from None
        except Exception as e:
            raise BadImage(f"not a readable image: {_describe(e)}") from None
        w, h = im.size
        if w * h > max_pixels:
            raise BadImage(f"{w}x{h} = {w * h} pixels > max_pixels {max_pixels}, refused before decoding")
        try:
            im.load()
            return im.convert("RGB")
        except Exception as e:
            raise BadImage(f"decoding failed: {_describe(e)}") from None


def _describe(e: Exception) -> str:
    """The error without object addresses, so reports are identical from run to run."""
    return f"{type(e).__name__}: " + re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "<data>", str(e))


def dhash(im: Image.Image) -> int:
    """64-bit difference hash: sign of horizontal gradients on a 9x8 grayscale thumbnail.

    Robust to re-encoding and resizing, which is what near-duplicate web images differ by.
    """
    small = np.asarray(im.convert("L").resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def thumbnail_b64(im: Image.Image, size: int) -> str:
    """A small JPEG as base64, to embed in the HTML gallery without copying images around."""
    thumb = im.copy()
    thumb.thumbnail((size, size))
    buf = io.BytesIO()
    thumb.convert("RGB").save(buf, "JPEG", quality=70)
    return base64.b64encode(buf.getvalue()).decode("ascii")
