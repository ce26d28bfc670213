"""Tasks on rendered text: OCR (answer = the text), OCR with `<quad>` regions, and text VQA about a
framed word or a sign. Records follow `records`; retries use derived seeds like the scene tasks.
"""

from __future__ import annotations

import random

from ..interface.grounding import format_ref
from . import templates as T
from .records import Record, box_entry, grid_box, quad_entry, quad_text, record
from .seeds import child_seed
from .text_render import TextConfig, TextScene, render_text_scene, sample_text_scene

TEXT_TASKS = ("ocr", "ocr_quad", "text_vqa")
MAX_ATTEMPTS = 16


def _quads(scene: TextScene) -> list[dict]:
    return [quad_entry(it.text, it.quad, scene.width, scene.height) for it in scene.reading_order()]


def ocr(scene: TextScene, lang: str) -> tuple[str, str, list[dict]]:
    """All texts, one per line, top to bottom."""
    answer = "\n".join(it.text for it in scene.reading_order())
    return T.PROMPTS[lang]["ocr"], answer, _quads(scene)


def ocr_focus(scene: TextScene) -> tuple[tuple[int, int, tuple], ...]:
    """Where each character of the `ocr` answer is drawn: (start, end, ((0, grid box),)) per character
    (see `tasks.TaskText.focus`), lines joined by a newline that is read from nowhere."""
    out, at = [], 0
    for it in scene.reading_order():
        for k in range(len(it.text)):
            if not it.text[k].isspace():
                out.append((at + k, at + k + 1, ((0, grid_box(it.slice_rect(k, k + 1), scene.width, scene.height)),)))
        at += len(it.text) + 1
    return tuple(out)


def ocr_quad(scene: TextScene, lang: str) -> tuple[str, str, list[dict]]:
    """Each text as `<ref>text</ref><quad>…</quad>`, one per line, top to bottom."""
    answer = "\n".join(format_ref(it.text) + quad_text(it.quad, scene.width, scene.height)
                       for it in scene.reading_order())
    return T.PROMPTS[lang]["ocr_quad"], answer, _quads(scene)


def text_vqa(scene: TextScene, lang: str, rng: random.Random) -> tuple[str, str, list[dict]] | None:
    """The word on the sign, or the word in a frame of a named colour; None when the layout has neither."""
    if scene.sign is not None:
        item, question = scene.items[scene.sign.item], T.question("sign", lang)
    elif scene.frames:
        index, colour, _ = rng.choice(scene.frames)
        item, question = scene.items[index], T.question("boxed_word", lang, colour=T.colour_word(colour, lang))
    else:
        return None
    box = box_entry(item.text, item.rect, scene.width, scene.height)
    return T.vqa_prompt(question, lang), item.text, [box]


def text_record(task: str, seed: int, lang: str, config: TextConfig = TextConfig()) -> Record:
    """A full record of a text task, image rendered."""
    for attempt in range(MAX_ATTEMPTS):
        rng = random.Random(child_seed(seed, "text", attempt))
        scene_seed = child_seed(seed, "scene", attempt)
        if task == "text_vqa":
            sign = rng.random() < 0.5
            scene = sample_text_scene(scene_seed, lang, config, sign=sign, frames=0 if sign else rng.randint(1, 3))
            out = text_vqa(scene, lang, rng)
        else:
            scene = sample_text_scene(scene_seed, lang, config)
            out = (ocr if task == "ocr" else ocr_quad)(scene, lang)
        if out is not None and scene.items:
            prompt, answer, boxes = out
            return record(task, [render_text_scene(scene)], prompt, answer, lang, seed, boxes)
    raise RuntimeError(f"no text layout out of {MAX_ATTEMPTS} supports task {task!r} under {config}")
