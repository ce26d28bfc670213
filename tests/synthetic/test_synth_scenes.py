"""Scenes: deterministic from the seed, boxes tight around the drawn pixels, colours where they should be."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest

from qwenvl.synthetic.scenes import (Scene, SceneConfig, SceneObject, cell_owners, make_scene, object_mask, overlap,
                                     render_scene, sample_scene)
from qwenvl.synthetic.vocab import COLOUR, COLOURS, SHAPE, SIZE

SEEDS = range(40)


def png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_same_seed_gives_identical_bytes_whatever_the_global_random_state():
    random.seed(1)
    np.random.seed(1)
    scene_a, image_a = make_scene(123)
    random.seed(2)
    np.random.seed(2)
    random.random()
    scene_b, image_b = make_scene(123)
    assert scene_a == scene_b
    assert png(image_a) == png(image_b)


def test_different_seeds_give_different_scenes():
    images = {png(make_scene(seed)[1]) for seed in range(20)}
    assert len(images) == 20


@pytest.mark.parametrize("size", [224, 448])
def test_objects_respect_the_config(size):
    config = SceneConfig(size=size)
    counts = set()
    for seed in SEEDS:
        scene = sample_scene(seed, config)
        counts.add(len(scene.objects))
        assert (scene.width, scene.height) == (size, size)
        for i, obj in enumerate(scene.objects):
            x1, y1, x2, y2 = obj.box
            assert 0 <= x1 < x2 <= size and 0 <= y1 < y2 <= size
            assert obj.shape in SHAPE and obj.colour in COLOUR and obj.size in SIZE
            lo, hi = SIZE[obj.size].side
            assert int(lo * size) <= x2 - x1 <= int(hi * size) + 1
            for other in scene.objects[:i]:
                assert overlap(obj.box, other.box) <= config.max_overlap
    assert counts >= {1, 2, 3, 4, 5}  # object counts vary across seeds
    assert max(counts) <= 6


@pytest.mark.parametrize("size", [224, 448])
def test_objects_lie_on_the_lattice_and_each_size_is_one_side(size):
    cell = size // SceneConfig().grid
    sides = {}
    for seed in SEEDS:
        for obj in sample_scene(seed, SceneConfig(size=size)).objects:
            assert all(v % cell == 0 for v in obj.box)
            sides.setdefault(obj.size, set()).add(obj.box[2] - obj.box[0])
    assert {k: len(v) for k, v in sides.items()} == {"small": 1, "medium": 1, "big": 1}
    assert min(sides["small"]) < min(sides["medium"]) < min(sides["big"])


def test_grid_zero_places_objects_anywhere():
    corners = {v % 14 for seed in SEEDS for obj in sample_scene(seed, SceneConfig(grid=0)).objects for v in obj.box[:2]}
    assert len(corners) > 7


def test_box_is_the_tight_box_of_the_object_pixels():
    for seed in SEEDS:
        for obj in sample_scene(seed).objects:
            mask = object_mask(obj)
            assert mask.shape == (obj.box[3] - obj.box[1], obj.box[2] - obj.box[0])
            assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()


def _nearest_palette(pixels: np.ndarray) -> np.ndarray:
    palette = np.array([c.rgb for c in COLOURS], dtype=np.float32)
    d = np.linalg.norm(pixels[..., None, :].astype(np.float32) - palette, axis=-1)
    return np.where(d.min(-1) < 60, d.argmin(-1), -1)  # -1: no palette colour (background)


def test_visible_object_pixels_have_the_object_colour_and_it_dominates_its_box():
    names = [c.name for c in COLOURS]
    checked = 0
    for seed in SEEDS:
        scene, image = make_scene(seed)
        pixels = np.asarray(image)
        for i, obj in enumerate(scene.objects):
            x1, y1, x2, y2 = obj.box
            visible = object_mask(obj).copy()
            for later in scene.objects[i + 1:]:  # drawn on top
                lx1, ly1, lx2, ly2 = later.box
                full = np.zeros((scene.height, scene.width), bool)
                full[ly1:ly2, lx1:lx2] = object_mask(later)
                visible &= ~full[y1:y2, x1:x2]
            region = pixels[y1:y2, x1:x2]
            labels = _nearest_palette(region)
            assert (labels[visible] == names.index(obj.colour)).mean() > 0.97
            if visible.sum() == object_mask(obj).sum():  # nothing drawn over it
                counts = np.bincount(labels[labels >= 0], minlength=len(names))
                assert counts.argmax() == names.index(obj.colour)
                assert counts[names.index(obj.colour)] / labels.size > 0.3
                checked += 1
    assert checked > 50


def test_backgrounds_stay_away_from_the_palette():
    for seed in SEEDS:
        scene = sample_scene(seed)
        empty = render_scene(type(scene)(scene.width, scene.height, (), scene.background, 0.0, scene.seed))
        assert (_nearest_palette(np.asarray(empty)) == -1).mean() > 0.99


def test_cell_owners_name_the_topmost_box_holding_each_cell_centre():
    scene = sample_scene(5)
    low = SceneObject("circle", "red", "big", (0, 0, 112, 112), (220, 40, 40))
    high = SceneObject("star", "blue", "small", (56, 56, 112, 112), (40, 80, 220))
    scene = Scene(224, 224, (low, high), scene.background, 0.0, 5)
    owners = cell_owners(scene, 4)  # cells of 56 px, centres at 28, 84, 140, 196
    assert owners[:4] == [0, 0, -1, -1] and owners[4:8] == [0, 1, -1, -1] and set(owners[8:]) == {-1}
    fine = cell_owners(scene, 16)  # 14 px cells: the small box holds 4 × 4 of them
    assert len(fine) == 256 and fine.count(1) == 16 and fine.count(0) == 64 - 16
