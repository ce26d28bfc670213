"""Rendered text: fonts really draw Chinese, quads are the rotated ink boxes, answers name what is drawn."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from qwenvl.interface.grounding import parse_grounding
from qwenvl.synthetic import fonts as fonts_module
from qwenvl.synthetic.fonts import FontsNotFound, find_fonts, load_font
from qwenvl.synthetic.records import grid_point
from qwenvl.synthetic.seeds import sample_seed
from qwenvl.synthetic.text_render import glyph_owners, item_alpha, render_text_scene, sample_text_scene
from qwenvl.synthetic.text_tasks import text_record
from qwenvl.synthetic.vocab import COLOUR
from qwenvl.synthetic.words import CHINESE, ENGLISH

SEEDS = range(24)


def png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def glyph(font, ch: str) -> bytes:
    image = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(image).text((4, 4), ch, font=font, fill=255)
    return image.tobytes()


def test_chinese_fonts_draw_every_character_of_the_word_list_as_a_distinct_glyph():
    chars = sorted(set("".join(CHINESE)))
    for path in find_fonts().cjk:
        font = load_font(path, 24)
        glyphs = [glyph(font, ch) for ch in chars]
        assert len(set(glyphs)) == len(chars), f"{path.name}: some characters share a glyph (tofu)"
        assert glyph(font, "\U0010fffd") not in glyphs


def test_latin_fonts_draw_every_letter():
    letters = sorted(set("".join(ENGLISH) + "".join(ENGLISH).upper()))
    for path in find_fonts().latin:
        font = load_font(path, 24)
        assert len({glyph(font, ch) for ch in letters}) == len(letters), path.name


def test_find_fonts_names_what_to_install_when_nothing_is_found(monkeypatch):
    monkeypatch.setattr(fonts_module, "_candidates", list)
    find_fonts.cache_clear()
    try:
        with pytest.raises(FontsNotFound, match="apt-get install fonts-dejavu-core"):
            find_fonts()
    finally:
        find_fonts.cache_clear()


def test_chinese_text_is_set_in_cjk_fonts():
    for seed in SEEDS:
        scene = sample_text_scene(seed, "zh")
        assert scene.items and all(re.fullmatch("[\u4e00-\u9fff]+", it.text) for it in scene.items)
        assert all(it.font in find_fonts().cjk for it in scene.items)


def _inside(quad, xs, ys, tolerance: float) -> np.ndarray:
    """Points within `tolerance` pixels of the convex, clockwise (on screen) quad."""
    ok = np.ones(xs.shape, bool)
    for (ax, ay), (bx, by) in zip(quad, quad[1:] + quad[:1]):
        ex, ey = bx - ax, by - ay
        cross = ex * (ys - ay) - ey * (xs - ax)  # >= 0 inside for clockwise on screen (y down)
        ok &= cross / np.hypot(ex, ey) >= -tolerance
    return ok


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_quads_are_the_rotated_ink_boxes_of_the_text(lang):
    rotated = 0
    for seed in SEEDS:
        scene = sample_text_scene(seed, lang)
        for item in scene.items:
            ox, oy, alpha = item_alpha(item)
            ys, xs = np.nonzero(alpha > 0.1)
            assert len(xs), "the text drew nothing"
            quad = list(item.quad)
            cx, cy = xs + ox + 0.5, ys + oy + 0.5  # pixel centres
            assert _inside(quad, cx, cy, 1.5).all(), "ink outside its quad"
            for edge in range(4):  # every side of the quad touches the ink: the quad is tight
                (ax, ay), (bx, by) = quad[edge], quad[(edge + 1) % 4]
                dist = ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) / np.hypot(bx - ax, by - ay)
                assert dist.min() < 2.0
            x1, y1, x2, y2 = item.rect
            assert 0 <= x1 and 0 <= y1 and x2 <= scene.width and y2 <= scene.height
            rotated += abs(item.angle) > 1
    assert rotated > 5


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_character_has_its_slice_of_the_quad_in_reading_order(lang):
    checked = 0
    for seed in SEEDS:
        for item in sample_text_scene(seed, lang).items:
            n = len(item.text)
            assert all(abs(a - b) <= 1 for a, b in zip(item.slice_rect(0, n), item.rect))
            ox, oy, alpha = item_alpha(item)
            centres = []
            for k in range(n):
                x1, y1, x2, y2 = item.slice_rect(k, k + 1)
                centres.append((x1 + x2) / 2)
                ink = alpha[max(0, y1 - oy):max(0, y2 - oy), max(0, x1 - ox):max(0, x2 - ox)]
                assert item.text[k].isspace() or (ink > 0.5).any(), f"no ink where {item.text[k]!r} should be"
            if abs(item.angle) < 5 and n > 1:
                assert all(a < b for a, b in zip(centres, centres[1:]))  # strictly left to right
                checked += 1
    assert checked > 5


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_patch_is_labelled_with_the_character_drawn_over_it(lang):
    """A point in a character's slice reads as that character; a patch under no text reads nothing;
    along a level line the patches read the text's characters in order."""
    ordered = 0
    for seed in SEEDS:
        scene = sample_text_scene(seed, lang)
        for item in scene.items:
            for k, ch in enumerate(item.text):
                x1, y1, x2, y2 = item.slice_rect(k, k + 1)
                cx, cy = item.centre
                # the slice's middle along the line, at the height of the quad's centre line
                assert item.char_at((x1 + x2) / 2, cy + ((x1 + x2) / 2 - cx) * -np.tan(np.radians(item.angle))) == (
                    None if ch.isspace() else ch)
            x1, y1, x2, y2 = item.rect
            assert item.char_at(x1 - 1, y1 - 1) is None and item.char_at(x2 + 1, y2 + 1) is None
        grid = 16
        owners = glyph_owners(scene, grid)
        step = scene.width / grid
        for i, ch in enumerate(owners):
            x, y = (i % grid + 0.5) * step, (i // grid + 0.5) * step
            inside = [it for it in scene.items if it.rect[0] <= x < it.rect[2] and it.rect[1] <= y < it.rect[3]]
            assert ch is None or any(ch in it.text for it in inside)
        for item in scene.items:
            rows = {}
            for i, ch in enumerate(owners):
                if ch is not None and item.char_at((i % grid + 0.5) * step, (i // grid + 0.5) * step) == ch:
                    rows.setdefault(i // grid, []).append(ch)
            if abs(item.angle) < 1 and " " not in item.text:
                for read in rows.values():
                    runs, it = [c for k, c in enumerate(read) if k == 0 or read[k - 1] != c], iter(item.text)
                    assert all(c in it for c in runs), f"{read} is not read in the order of {item.text!r}"
                    ordered += 1
    assert ordered > 3


def test_rendered_image_shows_the_text_in_its_colour():
    for seed in SEEDS[:8]:
        scene = sample_text_scene(seed, "en")
        pixels = np.asarray(render_text_scene(scene)).astype(np.float32)
        for item in scene.items:
            ox, oy, alpha = item_alpha(item)
            ys, xs = np.nonzero(alpha > 0.99)
            if len(xs):
                drawn = pixels[ys + oy, xs + ox]
                assert np.abs(drawn - np.asarray(item.rgb)).mean() < 15


def test_ocr_quad_answer_gives_every_text_with_its_normalized_quad():
    for i in range(12):
        seed = sample_seed("ocr_quad", 0, i)
        rec = text_record("ocr_quad", seed, "en")
        quads = parse_grounding(rec["answer"])
        assert [q.ref for q in quads] == [b["ref"] for b in rec["boxes"]]
        for q, entry in zip(quads, rec["boxes"]):
            expected = tuple(grid_point(x, y, 224, 224) for x, y in entry["pixel_quad"])
            assert q.points == expected
        plain = text_record("ocr", seed, "en")
        assert plain["answer"].split("\n") == [q.ref for q in quads]


def test_text_vqa_answers_the_framed_word_or_the_sign():
    kinds = set()
    for i in range(24):
        seed = sample_seed("text_vqa", 0, i)
        for lang in ("en", "zh"):
            rec = text_record("text_vqa", seed, lang)
            q = rec["prompt"]
            assert rec["answer"] and rec["answer"] == rec["boxes"][0]["ref"]
            if lang == "en":
                m = re.fullmatch(r"What is the word in the (\w+) box\? Answer:", q)
                kinds.add("frame" if m else "sign")
                assert m or q == "What is written on the sign? Answer:"
                if m:
                    assert m.group(1) in COLOUR
                    _check_frame(rec, m.group(1))
    assert kinds == {"frame", "sign"}


def _check_frame(rec, colour: str) -> None:
    """The frame colour runs around the answer's box in the image."""
    x1, y1, x2, y2 = rec["boxes"][0]["pixel_box"]
    pixels = np.asarray(rec["images"][0]).astype(np.float32)
    g = 4  # half the default gap: where the frame is drawn
    ring = np.concatenate([pixels[y1 - g, x1:x2], pixels[y2 + g - 1, x1:x2]])
    assert np.abs(ring - np.asarray(COLOUR[colour].rgb)).mean(-1).mean() < 20


def test_text_images_are_deterministic():
    a = text_record("ocr", sample_seed("ocr", 0, 3), "zh")["images"][0]
    b = text_record("ocr", sample_seed("ocr", 0, 3), "zh")["images"][0]
    c = text_record("ocr", sample_seed("ocr", 0, 4), "zh")["images"][0]
    assert png(a) == png(b) != png(c)
