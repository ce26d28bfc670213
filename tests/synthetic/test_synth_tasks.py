"""Scene tasks: every question's answer is checked against the scene dataclass by an independent
reading of the English text; Chinese records of the same seed must agree with the English ones."""

from __future__ import annotations

import re

import pytest

from qwenvl.interface.grounding import parse_grounding
from qwenvl.synthetic.records import grid_box
from qwenvl.synthetic.seeds import sample_seed
from qwenvl.synthetic.tasks import SCENE_TASKS, scene_record, scene_text
from qwenvl.synthetic.vocab import COLOUR, NUMBERS_EN, SHAPE, SHAPES, SIZE

N = 60
PLURAL = {s.plural: s.name for s in SHAPES}
SUFFIX = {" on the left": "left", " on the right": "right", " at the top": "top", " at the bottom": "bottom"}


def seeds(task):
    return [sample_seed(task, 0, i) for i in range(N)]


def parse_expression(expr: str) -> dict:
    """'the big red circle on the left' → {'size': 'big', 'colour': 'red', 'shape': 'circle', 'position': 'left'}."""
    out = {"size": None, "colour": None, "shape": None, "position": None}
    for suffix, position in SUFFIX.items():
        if expr.endswith(suffix):
            expr, out["position"] = expr[: -len(suffix)], position
    words = expr.split()
    assert words[0] in ("the", "a", "an")
    for word in words[1:]:
        key = "size" if word in SIZE else "colour" if word in COLOUR else "shape" if word in SHAPE else None
        if word == "object":
            continue
        assert key is not None and out[key] is None, f"unexpected word {word!r} in {expr!r}"
        out[key] = word
    return out


def matching(scene, attrs: dict) -> list:
    group = [o for o in scene.objects if all(attrs[k] in (None, getattr(o, k)) for k in ("size", "colour", "shape"))]
    position = attrs["position"]
    if position is None:
        return group
    assert len(group) == 2, "a positional expression needs exactly two look-alikes"
    a, b = group
    if position in ("left", "right"):
        assert a.box[2] <= b.box[0] or b.box[2] <= a.box[0], "the two must not overlap horizontally"
        first = a if a.box[2] <= b.box[0] else b
    else:
        assert a.box[3] <= b.box[1] or b.box[3] <= a.box[1], "the two must not overlap vertically"
        first = a if a.box[3] <= b.box[1] else b
    return [first if position in ("left", "top") else (b if first is a else a)]


def referent(scene, expr: str):
    found = matching(scene, parse_expression(expr))
    assert len(found) == 1, f"{expr!r} refers to {len(found)} objects"
    return found[0]


def en(task, seed):
    scenes, text = scene_text(task, seed, "en")
    return scenes, text, question(text.prompt)


def question(prompt: str) -> str:
    assert prompt.endswith(" Answer:") or not prompt.endswith("Answer:")
    return prompt.removesuffix(" Answer:")


def test_normalized_box_formula():
    assert grid_box((0, 0, 224, 224), 224, 224) == (0, 0, 999, 999)
    assert grid_box((112, 56, 113, 57), 224, 224) == (500, 250, 504, 254)  # int(v / size * 1000)
    assert grid_box((7, 3, 300, 447), 448, 448) == (15, 6, 669, 997)
    assert grid_box((10, 10, 20, 20), 100, 50) == (100, 200, 200, 400)


def test_referring_expressions_are_unique_and_their_box_is_the_referent():
    for seed in seeds("grounding"):
        (scene,), text, _ = en("grounding", seed)
        expr = re.fullmatch(r"Find <ref>(.*)</ref>", text.prompt).group(1)
        obj = referent(scene, expr)
        (box,) = parse_grounding(text.answer)
        assert box.ref == expr
        assert (box.x1, box.y1, box.x2, box.y2) == grid_box(obj.box, scene.width, scene.height)
        assert text.boxes[0]["pixel_box"] == list(obj.box)


def test_position_qualifiers_are_used():
    prompts = [scene_text("grounding", s, "en")[1].prompt for s in seeds("grounding")]
    assert any(suffix in p for p in prompts for suffix in SUFFIX)


def test_count_answers_match_the_scene():
    answers = set()
    for seed in seeds("vqa_count"):
        (scene,), text, q = en("vqa_count", seed)
        m = re.fullmatch(r"How many (?:(\w+) )?(\w+) are there\?", q)
        colour, noun = m.groups()
        shape = None if noun == "objects" else PLURAL[noun]
        expected = sum((shape is None or o.shape == shape) and (colour is None or o.colour == colour)
                       for o in scene.objects)
        assert text.answer == str(expected)
        answers.add(expected)
    assert 0 in answers and len(answers) >= 3


def test_colour_and_shape_answers_match_the_referent():
    for seed in seeds("vqa_colour"):
        (scene,), text, q = en("vqa_colour", seed)
        obj = referent(scene, re.fullmatch(r"What colour is (.*)\?", q).group(1))
        assert text.answer == obj.colour
    for seed in seeds("vqa_shape"):
        (scene,), text, q = en("vqa_shape", seed)
        obj = referent(scene, re.fullmatch(r"What shape is (.*)\?", q).group(1))
        assert text.answer == obj.shape


def test_relative_position_answers_match_the_boxes():
    for seed in seeds("vqa_position"):
        (scene,), text, q = en("vqa_position", seed)
        if m := re.fullmatch(r"Is (.*) to the left or to the right of (.*)\?", q):
            a, b = (referent(scene, e) for e in m.groups())
            assert text.answer == {True: "left", False: "right"}[a.box[2] <= b.box[0]]
            assert a.box[2] <= b.box[0] or b.box[2] <= a.box[0]
        else:
            a, b = (referent(scene, e) for e in re.fullmatch(r"Is (.*) above or below (.*)\?", q).groups())
            assert text.answer == {True: "above", False: "below"}[a.box[3] <= b.box[1]]
            assert a.box[3] <= b.box[1] or b.box[3] <= a.box[1]


def test_yes_no_answers_match_the_scene():
    answers = []
    for seed in seeds("vqa_yesno"):
        (scene,), text, q = en("vqa_yesno", seed)
        if m := re.fullmatch(r"Is there an? (\w+) (\w+)\?", q):
            colour, shape = m.groups()
            truth = any(o.colour == colour and o.shape == shape for o in scene.objects)
        else:
            expr, colour = re.fullmatch(r"Is (.*) (\w+)\?", q).groups()
            truth = referent(scene, expr).colour == colour
        assert text.answer == ("yes" if truth else "no")
        answers.append(text.answer)
    assert 0.3 < answers.count("yes") / len(answers) < 0.7


def test_multi_image_answers_name_the_right_picture():
    sizes = set()
    for seed in seeds("multi_image"):
        scenes, text, q = en("multi_image", seed)
        sizes.add(len(scenes))
        if m := re.fullmatch(r"Which picture has an? (\w+) (\w+)\?", q):
            colour, shape = m.groups()
            has = [any(o.colour == colour and o.shape == shape for o in s.objects) for s in scenes]
            assert has.count(True) == 1
            winner = has.index(True)
        else:
            colour, noun = re.fullmatch(r"Which picture has (?:more|the most) (?:(\w+) )?(\w+)\?", q).groups()
            shape = None if noun == "objects" else PLURAL[noun]
            counts = [sum((shape is None or o.shape == shape) and (colour is None or o.colour == colour)
                          for o in s.objects) for s in scenes]
            assert counts.count(max(counts)) == 1
            winner = counts.index(max(counts))
        assert text.answer == f"Picture {winner + 1}"
        # what the answer is read from: every object of the asked kind in the winning picture
        kind = [o for o in scenes[winner].objects
                if (shape is None or o.shape == shape) and (colour is None or o.colour == colour)]
        assert text.focus == tuple((winner, grid_box(o.box, 224, 224)) for o in kind) and kind
    assert sizes == {2, 3}


def test_captions_list_every_object_left_to_right_with_its_box():
    for seed in seeds("grounded_caption")[:20]:
        (scene,), text, _ = en("grounded_caption", seed)
        ordered = sorted(scene.objects, key=lambda o: o.centre)
        boxes = parse_grounding(text.answer)
        assert [b.ref for b in boxes] == [f"a {o.size} {o.colour} {o.shape}" for o in ordered]
        assert [(b.x1, b.y1, b.x2, b.y2) for b in boxes] == [grid_box(o.box, 224, 224) for o in ordered]
        (scene2,), plain, _ = en("caption", seed)
        n = len(scene2.objects)
        assert plain.answer.startswith(NUMBERS_EN[n].capitalize() + (" object: " if n == 1 else " objects: "))
        assert all(f"a {o.size} {o.colour} {o.shape}" in plain.answer for o in scene2.objects)


def test_region_caption_describes_the_object_in_the_box():
    for seed in seeds("region_caption")[:20]:
        (scene,), text, _ = en("region_caption", seed)
        (box,) = parse_grounding(text.prompt)
        obj = next(o for o in scene.objects if grid_box(o.box, 224, 224) == (box.x1, box.y1, box.x2, box.y2))
        assert text.answer == f"a {obj.size} {obj.colour} {obj.shape}"


@pytest.mark.parametrize("task", SCENE_TASKS)
def test_chinese_records_share_scene_and_answer_with_english(task):
    for seed in seeds(task)[:15]:
        scenes_en, text_en = scene_text(task, seed, "en")
        scenes_zh, text_zh = scene_text(task, seed, "zh")
        assert scenes_en == scenes_zh
        assert [b["pixel_box"] for b in text_en.boxes] == [b["pixel_box"] for b in text_zh.boxes]
        assert re.search("[\u4e00-\u9fff]", text_zh.prompt + text_zh.answer)
        if task == "vqa_colour":
            assert text_zh.answer == COLOUR[text_en.answer].zh
        if task == "vqa_shape":
            assert text_zh.answer == SHAPE[text_en.answer].zh
        if task == "vqa_count":
            assert text_zh.answer == text_en.answer
        if task == "multi_image":
            assert text_zh.answer == f"第{text_en.answer.split()[1]}张图片"


def test_scene_records_have_one_image_per_scene():
    rec = scene_record("multi_image", sample_seed("multi_image", 0, 0), "en")
    scenes, _ = scene_text("multi_image", rec["seed"], "en")
    assert len(rec["images"]) == len(scenes)
    assert all(im.size == (224, 224) and im.mode == "RGB" for im in rec["images"])
