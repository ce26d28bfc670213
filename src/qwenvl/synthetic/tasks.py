"""Tasks on scenes of shapes: captions, VQA, referring grounding, grounded captions, region
descriptions and multi-image questions, each as a record (see `records`).

The text builders work on the scene layout alone, so the corpus can reuse them without drawing;
a builder returns None when a scene cannot support its question (e.g. no object can be referred
to uniquely), and the record is then retried on a fresh scene from a derived seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from ..interface.grounding import format_ref
from . import templates as T
from .describe import Description, relation, unique_descriptions
from .records import Record, box_entry, box_text, grid_box, record
from .scenes import Scene, SceneConfig, SceneObject, render_scene, sample_scene
from .seeds import child_seed

MAX_ATTEMPTS = 32


@dataclass(frozen=True)
class TaskText:
    """A task's text. `focus`: what the answer is read from, as (picture index, grid box) pairs, for
    answers that write no box of their own (training can tell the model where to look, `recipe.lookup`)."""

    prompt: str
    answer: str
    boxes: list[dict]
    focus: tuple[tuple[int, tuple[int, int, int, int]], ...] = ()


def _focus(scene: Scene, *objects: SceneObject) -> tuple[tuple[int, tuple[int, int, int, int]], ...]:
    return tuple((0, grid_box(o.box, scene.width, scene.height)) for o in objects)


def _full(obj: SceneObject) -> Description:
    return Description(obj.shape, obj.colour, obj.size)


def _reading_order(scene: Scene) -> list[SceneObject]:
    return sorted(scene.objects, key=lambda o: (o.centre[0], o.centre[1]))


def caption(scene: Scene, rng: random.Random, lang: str) -> TaskText:
    items = [T.noun_phrase(_full(o), lang, "a") for o in _reading_order(scene)]
    return TaskText(T.PROMPTS[lang]["caption"], T.caption(items, lang), [])


def grounded_caption(scene: Scene, rng: random.Random, lang: str) -> TaskText:
    objects = _reading_order(scene)
    phrases = [T.noun_phrase(_full(o), lang, "a") for o in objects]
    items = [format_ref(p) + box_text(o.box, scene.width, scene.height) for p, o in zip(phrases, objects)]
    boxes = [box_entry(p, o.box, scene.width, scene.height) for p, o in zip(phrases, objects)]
    return TaskText(T.PROMPTS[lang]["grounded_caption"], T.caption(items, lang), boxes)


def _pick_described(scene: Scene, rng: random.Random, with_shape: bool = True,
                    keep: Callable[[Description], bool] = lambda d: True) -> tuple[SceneObject, Description] | None:
    """A random object that some kept unique description refers to, with one such description."""
    options = [(o, ds) for o in scene.objects
               if (ds := [d for d in unique_descriptions(scene, o, with_shape) if keep(d)])]
    if not options:
        return None
    obj, descs = rng.choice(options)
    return obj, rng.choice(descs)


def grounding(scene: Scene, rng: random.Random, lang: str) -> TaskText | None:
    picked = _pick_described(scene, rng)
    if picked is None:
        return None
    obj, desc = picked
    expr = T.noun_phrase(desc, lang)
    answer = format_ref(expr) + box_text(obj.box, scene.width, scene.height)
    return TaskText(T.PROMPTS[lang]["grounding"].format(expression=expr), answer,
                    [box_entry(expr, obj.box, scene.width, scene.height)])


def region_caption(scene: Scene, rng: random.Random, lang: str) -> TaskText:
    obj = rng.choice(scene.objects)
    phrase = T.noun_phrase(_full(obj), lang, "a")
    prompt = T.PROMPTS[lang]["region"].format(box=box_text(obj.box, scene.width, scene.height))
    return TaskText(prompt, phrase, [box_entry(phrase, obj.box, scene.width, scene.height)], _focus(scene, obj))


def _vqa(question: str, answer: str, lang: str, focus: tuple = ()) -> TaskText:
    return TaskText(T.vqa_prompt(question, lang), answer, [], focus)


def vqa_colour(scene: Scene, rng: random.Random, lang: str) -> TaskText | None:
    picked = _pick_described(scene, rng, keep=lambda d: d.colour is None)
    if picked is None:
        return None
    obj, desc = picked
    return _vqa(T.question("colour", lang, the=T.noun_phrase(desc, lang)), T.colour_word(obj.colour, lang), lang,
                _focus(scene, obj))


def vqa_shape(scene: Scene, rng: random.Random, lang: str) -> TaskText | None:
    picked = _pick_described(scene, rng, with_shape=False)
    if picked is None:
        return None
    obj, desc = picked
    return _vqa(T.question("shape", lang, the=T.noun_phrase(desc, lang)), T.shape_word(obj.shape, lang), lang,
                _focus(scene, obj))


def _of_kind(scene: Scene, shape: str | None, colour: str | None) -> list[SceneObject]:
    return [o for o in scene.objects if (shape is None or o.shape == shape) and (colour is None or o.colour == colour)]


def _count(scene: Scene, shape: str | None, colour: str | None) -> int:
    return len(_of_kind(scene, shape, colour))


def vqa_count(scene: Scene, rng: random.Random, lang: str) -> TaskText:
    """How many of a shape and/or colour; now and then one that is absent (answer 0)."""
    pool = scene.config.shapes if rng.random() < 0.15 else [o.shape for o in scene.objects]
    colours = scene.config.colours if rng.random() < 0.15 else [o.colour for o in scene.objects]
    shape, colour = rng.choice([(rng.choice(pool), None), (None, rng.choice(colours)),
                                (rng.choice(pool), rng.choice(colours)), (None, None)])
    question = T.question("count", lang, plural=T.kind_phrase(shape, colour, lang))
    return _vqa(question, str(_count(scene, shape, colour)), lang)


def vqa_position(scene: Scene, rng: random.Random, lang: str) -> TaskText | None:
    """Left/right or above/below between two uniquely described objects that do not overlap on that axis."""
    plain = {id(o): [d for d in unique_descriptions(scene, o) if d.position is None] for o in scene.objects}
    options = [(a, b, axis) for a in scene.objects for b in scene.objects
               if a is not b and plain[id(a)] and plain[id(b)] for axis in ("x", "y") if relation(a, b, axis)]
    if not options:
        return None
    a, b, axis = rng.choice(options)
    question = T.question("relation_" + axis, lang, a=T.noun_phrase(rng.choice(plain[id(a)]), lang),
                          b=T.noun_phrase(rng.choice(plain[id(b)]), lang))
    return _vqa(question, T.answer(relation(a, b, axis), lang), lang, _focus(scene, a, b))


def vqa_yesno(scene: Scene, rng: random.Random, lang: str) -> TaskText | None:
    """Half 'is there a <colour> <shape>?', half 'is <the thing> <colour>?', with yes and no equally likely."""
    want_yes = rng.random() < 0.5
    if rng.random() < 0.5:
        present = {(o.shape, o.colour) for o in scene.objects}
        combos = sorted(present) if want_yes else [(s, c) for s in scene.config.shapes for c in scene.config.colours
                                                   if (s, c) not in present]
        shape, colour = rng.choice(combos)
        question = T.question("exists", lang, a=T.noun_phrase(Description(shape, colour), lang, "a"))
        matches = [o for o in scene.objects if (o.shape, o.colour) == (shape, colour)]
        return _vqa(question, T.answer("has" if want_yes else "has_not", lang), lang, _focus(scene, *matches))
    picked = _pick_described(scene, rng, keep=lambda d: d.colour is None)
    if picked is None:
        return None
    obj, desc = picked
    colour = obj.colour if want_yes else rng.choice([c for c in scene.config.colours if c != obj.colour])
    question = T.question("has_colour", lang, the=T.noun_phrase(desc, lang), colour=T.colour_word(colour, lang))
    return _vqa(question, T.answer("yes" if want_yes else "no", lang), lang, _focus(scene, obj))


def multi_image(scenes: list[Scene], rng: random.Random, lang: str) -> TaskText | None:
    """Which of 2–3 pictures has more of something, or is the only one with something; the focus is
    the winning picture's objects of that kind."""
    things = sorted({q for s in scenes for o in s.objects for q in ((o.shape, None), (None, o.colour),
                                                                  (o.shape, o.colour))}, key=str)
    options = []
    for shape, colour in things:
        counts = [_count(s, shape, colour) for s in scenes]
        if counts.count(max(counts)) == 1:
            options.append(("more" if len(scenes) == 2 else "most", shape, colour, counts.index(max(counts))))
        if shape and colour and sum(c > 0 for c in counts) == 1:
            options.append(("which_has", shape, colour, counts.index(max(counts))))
    if not options:
        return None
    kind, shape, colour, winner = rng.choice(options)
    if kind == "which_has":
        question = T.question(kind, lang, a=T.noun_phrase(Description(shape, colour), lang, "a"))
    else:
        question = T.question(kind, lang, plural=T.kind_phrase(shape, colour, lang))
    scene = scenes[winner]
    focus = tuple((winner, grid_box(o.box, scene.width, scene.height)) for o in _of_kind(scene, shape, colour))
    return _vqa(question, T.answer("picture", lang, i=winner + 1), lang, focus)


SINGLE_SCENE = {
    "caption": caption,
    "grounded_caption": grounded_caption,
    "grounding": grounding,
    "region_caption": region_caption,
    "vqa_colour": vqa_colour,
    "vqa_shape": vqa_shape,
    "vqa_count": vqa_count,
    "vqa_position": vqa_position,
    "vqa_yesno": vqa_yesno,
}
SCENE_TASKS = (*SINGLE_SCENE, "multi_image")


def scene_text(task: str, seed: int, lang: str, config: SceneConfig = SceneConfig()) -> tuple[list[Scene], TaskText]:
    """The scenes and text of a scene task, retrying on fresh derived seeds when a scene cannot support it."""
    for attempt in range(MAX_ATTEMPTS):
        rng = random.Random(child_seed(seed, "text", attempt))
        if task == "multi_image":
            n = rng.choice((2, 3))
            scenes = [sample_scene(child_seed(seed, "scene", attempt, i), config) for i in range(n)]
            text = multi_image(scenes, rng, lang)
        else:
            scenes = [sample_scene(child_seed(seed, "scene", attempt), config)]
            text = SINGLE_SCENE[task](scenes[0], rng, lang)
        if text is not None:
            return scenes, text
    raise RuntimeError(f"no scene out of {MAX_ATTEMPTS} supports task {task!r} under {config}")


def scene_record(task: str, seed: int, lang: str, config: SceneConfig = SceneConfig()) -> Record:
    """A full record of a scene task, images rendered."""
    scenes, text = scene_text(task, seed, lang, config)
    return record(task, [render_scene(s) for s in scenes], text.prompt, text.answer, lang, seed, text.boxes)
