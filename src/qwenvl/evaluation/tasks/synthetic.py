"""The project's own synthetic data (`qwenvl.synthetic`) as evaluation tasks, one per family.

A model trained on that data is asked exactly as it was trained: the record's pictures in the list
format, then its prompt (`training.formats.prompt_answer`); answers are compared with the
record's answer. Families: captions, VQA, referring grounding, grounded captions, OCR and
multi-image questions.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...interface.grounding import Box, Quad, count_malformed, parse_grounding
from ...interface.list_format import from_list_format
from ...synthetic.dataset import MANIFEST
from ..metrics import anls, box_iou, cider_score, exact_match, refexp_accuracy
from .base import Item, Scores, Task, find_file, grouped_means, percent, prediction_texts, read_jsonl
from .refexp import image_size, predicted_box

FAMILIES = {
    "synth_caption": ("caption", "region_caption"),
    "synth_vqa": ("vqa_colour", "vqa_shape", "vqa_count", "vqa_position", "vqa_yesno", "text_vqa"),
    "synth_grounding": ("grounding",),
    "synth_grounded_caption": ("grounded_caption",),
    "synth_ocr": ("ocr", "ocr_quad"),
    "synth_multi_image": ("multi_image",),
}
_CJK = re.compile(r"([\u3000-\u303f\u3400-\u9fff\uff00-\uffef])")


def read_synthetic(data: Path, images: Path | None, family: str) -> list[Item]:
    """The manifest's records of `family`'s record tasks; image paths are relative to its folder."""
    path = find_file(data, MANIFEST)
    root = images or path.parent
    items = []
    for n, row in enumerate(read_jsonl(path)):
        if row.get("task") not in FAMILIES[family]:
            continue
        boxes = row.get("boxes") or []
        first_box = next((b for b in boxes if b.get("type") == "box"), None)
        items.append(Item(id=f"{row['task']}/{n}", images=tuple(str(root / p) for p in row["images"]),
                          question=row["prompt"], answers=(row["answer"],), group=row["task"],
                          box=tuple(first_box["pixel_box"]) if first_box else None,
                          meta={"lang": row.get("lang", "en"), "boxes": boxes}))
    if not items:
        raise ValueError(f"{path} has no records of {', '.join(FAMILIES[family])}")
    return items


def raw_texts(items: list[Item], predictions: dict[str, dict]) -> list[str]:
    """The replies with their grounding tags, which these answers contain."""
    return [predictions[i.id].get("raw", "").strip() for i in items]


def _exact(items: list[Item], replies: list[str]) -> dict[str, float]:
    return {i.id: exact_match(r, i.answers[0]) for i, r in zip(items, replies)}


def _cider_words(text: str) -> str:
    """Chinese characters spaced apart, so CIDEr's tokenizer sees words rather than one long token."""
    return _CJK.sub(r" \1 ", text)


def score_caption(items: list[Item], predictions: dict[str, dict]) -> Scores:
    replies = prediction_texts(items, predictions)
    per_item = _exact(items, replies)
    cider = cider_score({i.id: _cider_words(r) for i, r in zip(items, replies)},
                        {i.id: [_cider_words(i.answers[0])] for i in items})
    metrics = {"exact_match": percent(sum(per_item.values()) / len(items)), "CIDEr": percent(cider.value)}
    return Scores(metrics, per_item, breakdown=grouped_means(items, per_item))


def score_exact(items: list[Item], predictions: dict[str, dict]) -> Scores:
    per_item = _exact(items, prediction_texts(items, predictions))
    return Scores({"exact_match": percent(sum(per_item.values()) / len(items))}, per_item,
                  breakdown=grouped_means(items, per_item))


def score_grounding(items: list[Item], predictions: dict[str, dict]) -> Scores:
    result = refexp_accuracy(raw_texts(items, predictions), [i.box for i in items], [image_size(i) for i in items])
    per_item = {i.id: float(iou is not None and iou >= 0.5) for i, iou in zip(items, result.ious)}
    failures = tuple(i.id for i, iou in zip(items, result.ious) if iou is None)
    return Scores({"accuracy": percent(result.accuracy)}, per_item, failures, grouped_means(items, per_item))


def _true_boxes(item: Item, label: str | None = None) -> list[Box]:
    return [Box(label or b["ref"], *b["box"]) for b in item.meta["boxes"] if b["type"] == "box" and b["image"] == 0]


def _recall(true: list[Box], predicted: list[Box]) -> list[bool]:
    """For each true box: whether a predicted box with the same ref overlaps it at IoU >= 0.5."""
    hits = []
    for t in true:
        same = [p for p in predicted if (p.ref or "").strip().lower() == (t.ref or "").strip().lower()]
        if not same:
            hits.append(False)
            continue
        ious = box_iou(np.array([[t.x1, t.y1, t.x2, t.y2]] * len(same), dtype=np.float32),
                       np.array([[p.x1, p.y1, p.x2, p.y2] for p in same], dtype=np.float32))
        hits.append(bool((ious >= 0.5).any()))
    return hits


def score_grounded_caption(items: list[Item], predictions: dict[str, dict]) -> Scores:
    """Box recall (each true phrase's box found with its phrase at IoU >= 0.5) and exact match."""
    replies = raw_texts(items, predictions)
    hits = [_recall(_true_boxes(i), [b for b in parse_grounding(r) if isinstance(b, Box)])
            for i, r in zip(items, replies)]
    per_item = {i.id: sum(h) / len(h) for i, h in zip(items, hits)}
    exact = _exact(items, replies)
    metrics = {"box_recall": percent(sum(map(sum, hits)) / sum(map(len, hits))),
               "exact_match": percent(sum(exact.values()) / len(items))}
    failures = tuple(i.id for i, r in zip(items, replies) if count_malformed(r))
    return Scores(metrics, per_item, failures)


def ocr_text(item: Item, reply: str) -> str:
    """What OCR is judged on: the text itself, or for `ocr_quad` the regions' texts in order."""
    if item.group != "ocr_quad":
        return reply
    return "\n".join(q.ref or "" for q in parse_grounding(reply) if isinstance(q, Quad))


def score_ocr(items: list[Item], predictions: dict[str, dict]) -> Scores:
    """ANLS of the read text (quads' texts for `ocr_quad`), exact match of the whole answer."""
    replies = raw_texts(items, predictions)
    result = anls([ocr_text(i, r) for i, r in zip(items, replies)], [ocr_text(i, i.answers[0]) for i in items])
    per_item = {i.id: v for i, v in zip(items, result.per_item)}
    exact = _exact(items, replies)
    failures = tuple(i.id for i, r in zip(items, replies)
                     if i.group == "ocr_quad" and (count_malformed(r) or not ocr_text(i, r)))
    return Scores({"ANLS": percent(result.value), "exact_match": percent(sum(exact.values()) / len(items))},
                  per_item, failures, grouped_means(items, per_item))


def grounding_boxes(item: Item, prediction: dict) -> tuple[list[Box], list[Box]]:
    predicted = predicted_box(prediction.get("raw", ""))
    return [predicted] if predicted else [], _true_boxes(item, "true")[:1]


def grounded_caption_boxes(item: Item, prediction: dict) -> tuple[list[Box], list[Box]]:
    predicted = [b for b in parse_grounding(prediction.get("raw", "")) if isinstance(b, Box)]
    return predicted, _true_boxes(item)


def _task(name: str, description: str, score, max_new_tokens: int, boxes=None) -> Task:
    return Task(name, description, lambda data, images: read_synthetic(data, images, name),
                lambda item: from_list_format([{"image": src} for src in item.images]) + item.question,
                lambda item: item.question, score, max_new_tokens=max_new_tokens, boxes=boxes)


TASKS = [
    _task("synth_caption", "synthetic captions and region captions (manifest.jsonl), exact match and CIDEr",
          score_caption, 96),
    _task("synth_vqa", "synthetic VQA on shapes and rendered text (manifest.jsonl), exact match", score_exact, 16),
    _task("synth_grounding", "synthetic referring grounding (manifest.jsonl), Acc@IoU>=0.5", score_grounding, 64,
          grounding_boxes),
    _task("synth_grounded_caption", "synthetic grounded captions (manifest.jsonl), box recall and exact match",
          score_grounded_caption, 256, grounded_caption_boxes),
    _task("synth_ocr", "synthetic OCR, plain and with quads (manifest.jsonl), ANLS and exact match", score_ocr, 192),
    _task("synth_multi_image", "synthetic multi-image questions (manifest.jsonl), exact match", score_exact, 16),
]
