"""Scenes of coloured shapes: a plain dataclass layout sampled from a seed, and its rendering.

Layout and rendering are separate so text-only users (the corpus) can describe scenes without
drawing them. Everything follows from `Scene.seed`; no global random state is touched.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from .backgrounds import Background, finish, render_background, sample_background
from .shapes import draw_shape
from .vocab import COLOUR, COLOURS, SHAPES, SIZE, SIZES

PixelBox = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels; right and bottom exclusive


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    box: PixelBox  # the tight box of the object's pixels (before anything is drawn over it)
    rgb: tuple[int, int, int]  # the palette colour with a little jitter, as drawn

    @property
    def centre(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2, (y1 + y2) / 2


@dataclass(frozen=True)
class SceneConfig:
    size: int = 224  # square images, side in pixels
    min_objects: int = 1
    max_objects: int = 6
    max_overlap: float = 0.2  # largest share of the smaller of two boxes that their intersection may cover
    max_noise: float = 6.0  # Gaussian noise sigma, drawn per scene from [0, max_noise]
    colour_jitter: int = 12  # per-channel jitter of object colours, small against palette distances
    shapes: tuple[str, ...] = tuple(s.name for s in SHAPES)
    colours: tuple[str, ...] = tuple(c.name for c in COLOURS)
    sizes: tuple[str, ...] = tuple(s.name for s in SIZES)
    placement_tries: int = 40
    grid: int = 8  # objects' corners and sides lie on a grid×grid lattice (0: anywhere); see `_side_and_corner`


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    objects: tuple[SceneObject, ...]  # in drawing order: later objects cover earlier ones
    background: Background
    noise: float
    seed: int
    config: SceneConfig = field(default=SceneConfig(), repr=False, compare=False)


def overlap(a: PixelBox, b: PixelBox) -> float:
    """Intersection area over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def _pool(rng: random.Random, names: tuple[str, ...], n: int) -> list[str]:
    """A few names per scene, so that repeats (two red things, three stars) are common."""
    k = rng.randint(max(1, min(len(names), n // 3)), min(len(names), n, 4))
    return rng.sample(names, k)


def _jitter(rng: random.Random, rgb: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    return tuple(min(max(c + rng.randint(-amount, amount), 0), 255) for c in rgb)


def _cells(size: str, grid: int) -> list[int]:
    """The object sides, in cells, that fall inside the size's range (the nearest one if none does)."""
    lo, hi = SIZE[size].side
    inside = list(range(math.ceil(lo * grid), math.floor(hi * grid) + 1))
    return inside or [max(1, round((lo + hi) / 2 * grid))]


def _side_and_corner(rng: random.Random, size: str, config: SceneConfig) -> tuple[int, int, int]:
    """An object's side and top-left corner in pixels.

    On the lattice (the default, 8 cells a side: the miniature ViT's patches at 112 px, two of
    them at 224 px) a shape covers its patches the same way wherever it stands, up to colour,
    noise and what covers it, and each size is one side. A small ViT learns shapes only so.
    Measured (benchmarks/RESULTS.md): trained supervised on lone objects, it names shapes at
    chance after 450 steps off the lattice and after 250 on a half-patch lattice, and starts to
    learn on this one.
    """
    side = config.size
    if not config.grid:
        s = max(4, int(rng.uniform(*SIZE[size].side) * side))
        return s, rng.randint(0, side - s), rng.randint(0, side - s)
    cell = side / config.grid
    k = rng.choice(_cells(size, config.grid))
    return round(k * cell), round(rng.randint(0, config.grid - k) * cell), round(rng.randint(0, config.grid - k) * cell)


def sample_scene(seed: int, config: SceneConfig = SceneConfig()) -> Scene:
    """The layout of a scene: 1–6 objects placed with bounded overlap, a background and a noise level."""
    rng = random.Random(seed)
    side = config.size
    n = rng.randint(config.min_objects, config.max_objects)
    shapes, colours = _pool(rng, config.shapes, n), _pool(rng, config.colours, n)
    objects: list[SceneObject] = []
    for _ in range(n):
        shape, colour, size = rng.choice(shapes), rng.choice(colours), rng.choice(config.sizes)
        for _ in range(config.placement_tries):
            s, x, y = _side_and_corner(rng, size, config)
            box = (x, y, x + s, y + s)
            if all(overlap(box, o.box) <= config.max_overlap for o in objects):
                rgb = _jitter(rng, COLOUR[colour].rgb, config.colour_jitter)
                objects.append(SceneObject(shape, colour, size, box, rgb))
                break
    return Scene(side, side, tuple(objects), sample_background(rng), rng.uniform(0, config.max_noise),
                 seed, config)


def object_mask(obj: SceneObject) -> np.ndarray:
    """The object's pixels within its box, as a boolean array of the box's shape."""
    x1, y1, x2, y2 = obj.box
    mask = Image.new("L", (x2 - x1, y2 - y1), 0)
    draw_shape(ImageDraw.Draw(mask), obj.shape, (0, 0, x2 - x1, y2 - y1), 255)
    return np.asarray(mask) > 0


def cell_owners(scene: Scene, grid: int) -> list[int]:
    """Per cell of a grid×grid split of the picture (row-major), the index of the topmost object
    whose box holds the cell's centre, or -1 for background: dense labels of where each object is."""
    step_x, step_y = scene.width / grid, scene.height / grid
    owners = []
    for row in range(grid):
        y = (row + 0.5) * step_y
        for col in range(grid):
            x = (col + 0.5) * step_x
            hits = [i for i, o in enumerate(scene.objects) if o.box[0] <= x < o.box[2] and o.box[1] <= y < o.box[3]]
            owners.append(hits[-1] if hits else -1)
    return owners


def render_scene(scene: Scene) -> Image.Image:
    """The scene as an RGB image: background, objects in order, then noise."""
    pixels = render_background(scene.background, scene.width, scene.height)
    for obj in scene.objects:
        x1, y1, x2, y2 = obj.box
        pixels[y1:y2, x1:x2][object_mask(obj)] = obj.rgb
    return finish(pixels, scene.noise, scene.seed)


def make_scene(seed: int, config: SceneConfig = SceneConfig()) -> tuple[Scene, Image.Image]:
    """A scene and its rendering, both from `seed`."""
    scene = sample_scene(seed, config)
    return scene, render_scene(scene)
