"""Grounding text: parsing, formatting, coordinate conversion, and drawing."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from PIL import Image, ImageFont

from qwenvl.interface import draw
from qwenvl.interface.grounding import (Box, Quad, count_malformed, format_box, format_quad, format_ref,
                                        grounding_to_dict, normalize_box, parse_grounding)

BEES = "<ref>bees</ref><box>(661,612),(833,812)</box><box>(120,555),(265,770)</box>"
NEEDS_CJK_FONT = ("no CJK font found: install one (Debian: apt-get install fonts-wqy-microhei) "
                  f"or point ${draw.FONT_ENV} at one")


# ---- parsing ------------------------------------------------------------------------------

def test_one_ref_owns_the_boxes_that_follow_it():
    assert parse_grounding(BEES) == [Box("bees", 661, 612, 833, 812), Box("bees", 120, 555, 265, 770)]


def test_whitespace_keeps_a_ref_other_text_ends_it():
    text = ("<ref> the dog </ref> <box>(1,2),(3,4)</box>\n<box>(5,6),(7,8)</box> and also "
            "<box>(9,10),(11,12)</box><ref>cat</ref><box>(13,14),(15,16)</box>")
    assert [(i.ref, i.x1) for i in parse_grounding(text)] == [("the dog", 1), ("the dog", 5), (None, 9),
                                                              ("cat", 13)]


def test_box_without_any_ref():
    assert parse_grounding("It is here: <box>(0,0),(999,999)</box>.") == [Box(None, 0, 0, 999, 999)]


def test_empty_ref_is_no_ref():
    assert parse_grounding("<ref> </ref><box>(1,2),(3,4)</box>") == [Box(None, 1, 2, 3, 4)]


def test_chinese_ref():
    text = "图中有<ref>两只蜜蜂</ref><box>(661,612),(833,812)</box><box>(120,555),(265,770)</box>。"
    assert [i.ref for i in parse_grounding(text)] == ["两只蜜蜂", "两只蜜蜂"]


def test_quad_with_spaces_after_commas():
    text = "<ref>OPEN 24H</ref><quad>(568,121), (625,131), (624,182), (567,172)</quad>"
    assert parse_grounding(text) == [Quad("OPEN 24H", ((568, 121), (625, 131), (624, 182), (567, 172)))]
    assert count_malformed(text) == 0


def test_spaces_inside_points_parse():
    assert parse_grounding("<box>( 1 , 2 ) , (3,4)</box>") == [Box(None, 1, 2, 3, 4)]


def test_boxes_and_quads_keep_their_order():
    text = "<ref>a</ref><quad>(1,1),(2,1),(2,2),(1,2)</quad><box>(1,2),(3,4)</box>"
    assert [type(i) for i in parse_grounding(text)] == [Quad, Box]


def test_malformed_elements_are_skipped_and_counted():
    text = ("<ref>ok</ref><box>(1,2),(3,4)</box>"
            "<box>(1,2)</box>"                          # one point
            "<box>(1,2),(3,x)</box>"                    # not a number
            "<box>(1000,0),(5,5)</box>"                 # off the grid
            "<quad>(1,1),(2,2),(3,3)</quad>"            # three corners
            "<ref>tail</ref><box>(5,6),(7,8)</box>"
            "<box>(9,9),(10,10)")                       # unclosed (cut off generation)
    assert parse_grounding(text) == [Box("ok", 1, 2, 3, 4), Box("tail", 5, 6, 7, 8)]
    assert count_malformed(text) == 5


def test_unclosed_ref_is_plain_text():
    text = "<ref>dangling <box>(1,2),(3,4)</box>"
    assert parse_grounding(text) == [Box(None, 1, 2, 3, 4)]
    assert count_malformed(text) == 0


def test_no_grounding():
    assert parse_grounding("") == [] and count_malformed("") == 0
    assert parse_grounding("Two bees on a flower.") == []
    assert parse_grounding("<ref>bees</ref>") == []


# ---- coordinates --------------------------------------------------------------------------

def test_to_pixels_by_hand():
    # 640x480: x * 0.64 and y * 0.48, truncated.
    assert Box(None, 661, 612, 833, 812).to_pixels(640, 480) == (423, 293, 533, 389)
    assert Box(None, 0, 0, 999, 999).to_pixels(640, 480) == (0, 0, 639, 479)


def test_to_pixels_keeps_the_official_float_formula():
    # int(580 / 1000 * 50) is 28 in floating point, not the exact 29: the official drawing agrees.
    assert Box(None, 580, 0, 580, 0).to_pixels(50, 50) == (28, 0, 28, 0)


def test_to_pixels_999_by_hand():
    x1, y1, x2, y2 = Box(None, 999, 0, 333, 999).to_pixels_999(640, 480)
    assert (x1, y1, y2) == (640.0, 0.0, 480.0)
    assert x2 == pytest.approx(333 * 640 / 999)


def test_normalized_by_hand():
    assert Box(None, 500, 250, 1, 999).normalized() == (0.5, 0.25, 0.001, 0.999)


def test_quad_to_pixels_by_hand():
    quad = Quad(None, ((568, 121), (625, 131), (624, 182), (567, 172)))
    # 200x100: x / 5 and y / 10, truncated.
    assert quad.to_pixels(200, 100) == ((113, 12), (125, 13), (124, 18), (113, 17))


def test_normalize_box_by_hand():
    assert normalize_box((320, 120, 100.5, -3), 640, 480) == (500, 250, 157, 0)
    assert normalize_box((0, 0, 640, 480), 640, 480) == (0, 0, 999, 999)  # the far edge clips to 999
    assert normalize_box((3, 7, 29, 87), 3, 100) == (999, 70, 999, 870)


def test_pixels_to_grid_and_back_lose_less_than_one_grid_cell():
    """int() on both ways only rounds down: back is p, or up to ceil(size / 1000) pixels below."""
    rng = random.Random(0)
    for _ in range(2000):
        w, h = rng.randint(1, 4000), rng.randint(1, 4000)
        pixels = (rng.randrange(w), rng.randrange(h), rng.randrange(w), rng.randrange(h))
        back = Box(None, *normalize_box(pixels, w, h)).to_pixels(w, h)
        for p, b, size in zip(pixels, back, (w, h, w, h)):
            assert 0 <= p - b <= math.ceil(size / 1000), (pixels, back, w, h)


def test_round_trips_are_exact_on_a_1000_pixel_image():
    for v in range(1000):
        assert normalize_box((v, v, v, v), 1000, 1000) == (v,) * 4
        assert Box(None, v, v, v, v).to_pixels(1000, 1000) == (v,) * 4


def test_bad_sizes_and_coordinates_are_refused():
    with pytest.raises(ValueError, match="positive"):
        normalize_box((0, 0, 1, 1), 0, 10)
    with pytest.raises(ValueError, match="positive"):
        Box(None, 0, 0, 1, 1).to_pixels(10, -1)
    with pytest.raises(ValueError, match="grid"):
        Box(None, 0, 0, 1000, 1)
    with pytest.raises(TypeError, match="integer"):
        Box(None, 0.5, 0, 1, 1)
    with pytest.raises(ValueError, match="four"):
        Quad(None, ((0, 0), (1, 1), (2, 2)))


# ---- formatting ---------------------------------------------------------------------------

def test_format_matches_the_paper():
    assert format_box(661, 612, 833, 812) == "<box>(661,612),(833,812)</box>"
    assert format_box(np.int64(1), 2, 3, 4) == "<box>(1,2),(3,4)</box>"
    assert format_ref("bees") == "<ref>bees</ref>"
    assert format_quad([(568, 121), (625, 131), (624, 182), (567, 172)]) == \
        "<quad>(568,121),(625,131),(624,182),(567,172)</quad>"


def test_format_then_parse_round_trip():
    text = format_ref("bees") + format_box(661, 612, 833, 812) + format_box(120, 555, 265, 770)
    assert text == BEES
    quad = ((1, 2), (3, 4), (5, 6), (7, 8))
    assert parse_grounding(format_ref("招牌") + format_quad(quad)) == [Quad("招牌", quad)]


def test_format_refuses_what_would_not_parse_back():
    with pytest.raises(TypeError):
        format_box(10.5, 0, 20, 20)  # pixels or fractions, not grid integers
    with pytest.raises(ValueError):
        format_box(0, 0, 1000, 20)
    with pytest.raises(ValueError):
        format_ref("a</ref>b")


def test_grounding_to_dict():
    box, quad = parse_grounding(BEES)[0], Quad(None, ((0, 0), (500, 0), (500, 500), (0, 500)))
    assert grounding_to_dict(box, 640, 480) == {"type": "box", "ref": "bees", "box": [661, 612, 833, 812],
                                                "pixel_box": [423, 293, 533, 389]}
    assert grounding_to_dict(quad, 200, 100) == {
        "type": "quad", "ref": None, "quad": [[0, 0], [500, 0], [500, 500], [0, 500]],
        "pixel_quad": [[0, 0], [100, 0], [100, 50], [0, 50]]}


# ---- drawing ------------------------------------------------------------------------------

def _noise(width=400, height=300, mode="RGB") -> Image.Image:
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)


def _px(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    return image.getpixel((x, y))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_box_outline_has_its_colour_and_nothing_far_away_changes(mode):
    image = _noise(mode=mode)
    box = Box("bees", 250, 500, 500, 800)  # pixels (100, 150)-(200, 240) on 400x300
    out = draw.draw_grounding(image, [box])
    assert out.mode == "RGB" and out.size == image.size
    colour = draw.PALETTE[0]
    for x, y in [(100, 200), (200, 200), (150, 150), (150, 240)]:  # the middle of each side
        assert _px(out, x, y) == colour
    changed = np.argwhere(np.any(np.asarray(out) != np.asarray(image.convert("RGB")), axis=-1))
    ys, xs = changed[:, 0], changed[:, 1]
    # Outline plus the label above it: nothing outside x 100..~160, y ~125..240 changes.
    assert xs.min() == 100 and xs.max() < 210 and ys.min() > 110 and ys.max() == 240
    assert np.asarray(image).tobytes() == np.asarray(_noise(mode=mode)).tobytes()  # input untouched


def test_font_size_sets_the_label_height():
    def label_rows(font_size):
        out = draw.draw_grounding(_noise(), [Box("bees", 250, 500, 500, 800)], font_size=font_size)
        changed = np.argwhere(np.any(np.asarray(out) != np.asarray(_noise()), axis=-1))
        return 150 - changed[:, 0].min()  # the label sits on the box's top edge at y=150

    assert label_rows(40) > 2 * label_rows(15)


def test_colours_follow_refs_deterministically():
    items = parse_grounding(BEES + "<ref>flower</ref><box>(100,100),(200,200)</box> then "
                                  "<box>(600,100),(700,200)</box><box>(800,100),(900,200)</box>")
    out = draw.draw_grounding(_noise(1000, 1000), items)
    right_edge = [_px(out, i.to_pixels(1000, 1000)[2], 150 if i.y1 == 100 else i.y2 - 10) for i in items]
    # bees, bees, flower, then each ref-less box gets its own colour.
    assert right_edge == [draw.PALETTE[k] for k in (0, 0, 1, 2, 3)]
    assert draw.draw_grounding(_noise(1000, 1000), items).tobytes() == out.tobytes()


def test_quad_outline_has_its_colour():
    quad = Quad("OPEN", ((250, 500), (500, 500), (500, 800), (250, 800)))
    out = draw.draw_grounding(_noise(), [quad])
    for x, y in [(100, 200), (200, 200), (150, 240)]:
        assert _px(out, x, y) == draw.PALETTE[0]
    assert _px(out, 10, 10) == _px(_noise(), 10, 10)


def test_label_at_the_top_edge_goes_inside_the_box():
    out = draw.draw_grounding(_noise(), [Box("top", 250, 0, 900, 800)])
    assert _px(out, 100, 0) == draw.PALETTE[0]  # the top edge itself
    assert _px(out, 102, 6) in (draw.PALETTE[0], (255, 255, 255))  # label background or its text


def test_chinese_label_with_a_cjk_font():
    path = draw.find_cjk_font()
    assert path is not None, NEEDS_CJK_FONT
    font = draw.load_label_font(20)
    assert draw.renderable_text("两只蜜蜂 bees", font) == "两只蜜蜂 bees"
    items = [Box("两只蜜蜂", 250, 500, 500, 800)]
    out = draw.draw_grounding(_noise(), items)
    assert _px(out, 100, 200) == draw.PALETTE[0]
    assert out.tobytes() != draw.draw_grounding(_noise(), [Box("????", 250, 500, 500, 800)]).tobytes()


def test_fontconfig_finds_a_cjk_font(monkeypatch):
    path = draw._fontconfig_cjk_font()
    assert path is not None, NEEDS_CJK_FONT
    assert draw.renderable_text("蜜蜂", ImageFont.truetype(path, 20)) == "蜜蜂"
    monkeypatch.setattr(draw.shutil, "which", lambda name: None)
    assert draw._fontconfig_cjk_font() is None


def test_font_from_the_environment(monkeypatch, tmp_path):
    path = draw.find_cjk_font()
    assert path is not None, NEEDS_CJK_FONT
    monkeypatch.setattr(draw, "_system_cjk_font", lambda: None)
    monkeypatch.setenv(draw.FONT_ENV, path)
    assert draw.find_cjk_font() == path
    monkeypatch.setenv(draw.FONT_ENV, str(tmp_path / "missing.ttf"))
    with pytest.raises(FileNotFoundError, match=draw.FONT_ENV):
        draw.load_label_font(20)


def test_without_a_cjk_font_chinese_becomes_question_marks(monkeypatch):
    monkeypatch.delenv(draw.FONT_ENV, raising=False)
    monkeypatch.setattr(draw, "_system_cjk_font", lambda: None)
    font = draw.load_label_font(20)
    assert isinstance(font, ImageFont.FreeTypeFont)  # Pillow's built-in scalable font
    assert draw.renderable_text("两只蜜蜂 bees", font) == "???? bees"
    out = draw.draw_grounding(_noise(), [Box("两只蜜蜂", 250, 500, 500, 800)])
    assert _px(out, 100, 200) == draw.PALETTE[0]
    assert out.tobytes() == draw.draw_grounding(_noise(), [Box("????", 250, 500, 500, 800)]).tobytes()


def test_bitmap_font_without_freetype_does_not_crash(monkeypatch):
    monkeypatch.setattr(draw, "load_label_font", lambda size: ImageFont.load_default_imagefont())
    out = draw.draw_grounding(_noise(), [Box("蜜蜂 café", 250, 500, 500, 800)])
    assert out.tobytes() == draw.draw_grounding(_noise(), [Box("?? café", 250, 500, 500, 800)]).tobytes()


def test_nothing_to_draw_gives_a_plain_copy():
    image = _noise(mode="RGBA")
    out = draw.draw_grounding(image, [])
    assert out is not image and out.tobytes() == image.convert("RGB").tobytes()


def test_draw_on_latest_picture_needs_an_image_and_a_box():
    assert draw.draw_on_latest_picture(BEES) is None  # no picture anywhere
    assert draw.draw_on_latest_picture("No bees here.", [("Picture 1:<img>a.png</img>\nBees?", "")]) is None


def test_draw_on_latest_picture_uses_the_latest_query_image(tmp_path):
    old, new = tmp_path / "old.png", tmp_path / "new.png"
    Image.new("RGB", (100, 100), "white").save(old)
    _noise().save(new)
    history = [(f"Picture 1:<img>{old}</img>\nBees?", "Yes."), (f"Picture 1:<img>{new}</img>\nAnd here?", "")]
    out = draw.draw_on_latest_picture("<ref>bees</ref><box>(250,500),(500,800)</box>", history)
    assert out.size == (400, 300) and _px(out, 100, 200) == draw.PALETTE[0]
    assert _px(out, 10, 10) == _px(_noise(), 10, 10)
