"""Backgrounds (flat, gradients, stripes, checks, blotches) and sensor noise, drawn from a seed.

Background colours stay in a caller-given grey band with a small tint, away from the object
palette, so an object's colour never melts into what is behind it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

KINDS = ("solid", "linear", "radial", "stripes", "checker", "blotches")
SCENE_BAND = (135, 195)  # grey levels behind coloured shapes: far from black, white and the chromatic palette


@dataclass(frozen=True)
class Background:
    kind: str
    colours: tuple[tuple[int, int, int], tuple[int, int, int]]
    angle: float  # radians: gradient / stripe direction
    period: float  # pixels per stripe or check, as a fraction of the image side
    seed: int  # for the blotch texture


def _tinted(rng: random.Random, band: tuple[int, int], tint: int) -> tuple[int, int, int]:
    g = rng.randint(*band)
    return tuple(min(max(g + rng.randint(-tint, tint), band[0] - tint), band[1] + tint) for _ in range(3))


def sample_background(rng: random.Random, band: tuple[int, int] = SCENE_BAND, tint: int = 10) -> Background:
    """A random background whose pixels all stay within `band` ± `tint`."""
    return Background(kind=rng.choice(KINDS), colours=(_tinted(rng, band, tint), _tinted(rng, band, tint)),
                      angle=rng.uniform(0, 2 * math.pi), period=rng.uniform(0.05, 0.2),
                      seed=rng.getrandbits(32))


def _mix(t: np.ndarray, bg: Background) -> np.ndarray:
    a, b = (np.asarray(c, dtype=np.float32) for c in bg.colours)
    return a + t[..., None] * (b - a)


def render_background(bg: Background, width: int, height: int) -> np.ndarray:
    """The background as float32 RGB of shape (height, width, 3)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    side = float(max(width, height))
    u = (x * math.cos(bg.angle) + y * math.sin(bg.angle)) / side  # position along the direction
    if bg.kind == "solid":
        t = np.zeros_like(x)
    elif bg.kind == "linear":
        t = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
    elif bg.kind == "radial":
        r = np.hypot(x - width / 2, y - height / 2)
        t = r / max(float(r.max()), 1e-6)
    elif bg.kind == "stripes":
        t = 0.5 + 0.5 * np.sin(2 * math.pi * u / bg.period)
    elif bg.kind == "checker":
        cell = max(bg.period * side, 2.0)
        t = ((x // cell + y // cell) % 2).astype(np.float32)
    else:  # blotches: smooth random texture, a coarse grid upsampled
        grid = np.random.default_rng(bg.seed).random((6, 6)).astype(np.float32)
        t = np.asarray(Image.fromarray(grid).resize((width, height), Image.BICUBIC), dtype=np.float32)
        t = np.clip(t, 0.0, 1.0)
    return _mix(t, bg)


def finish(pixels: np.ndarray, noise_sigma: float, seed: int) -> Image.Image:
    """Add Gaussian sensor noise and quantize float RGB to an 8-bit image."""
    if noise_sigma > 0:
        pixels = pixels + np.random.default_rng(seed).normal(0.0, noise_sigma, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
