"""Captioning: Flickr30K (Karpathy split JSON) and NoCaps (COCO-format captions), scored by CIDEr."""

from __future__ import annotations

from pathlib import Path

from ...interface import prompts
from ..metrics import cider_score
from .base import (
    Item,
    Scores,
    Task,
    check_unique,
    field_of,
    find_file,
    image_tag,
    locate,
    percent,
    prediction_texts,
    read_json,
)


def read_karpathy(data: Path, images: Path | None, split: str = "test") -> list[Item]:
    """`dataset_flickr30k.json` of Karpathy's splits: images with their five `sentences`."""
    path = find_file(data, "dataset_flickr30k.json")
    root = images or path.parent
    rows = field_of(read_json(path), "images", str(path))
    items = []
    for row in rows:
        if row.get("split") != split:
            continue
        name = field_of(row, "filename", str(path))
        items.append(Item(
            id=str(row.get("imgid", name)),
            images=(locate(root, f"flickr30k-images/{name}", f"images/{name}", name),),
            answers=tuple(s["raw"] for s in field_of(row, "sentences", name)),
        ))
    check_unique(items, path)
    return items


def read_coco_captions(data: Path, images: Path | None) -> list[Item]:
    """COCO-format captions (`nocaps_val_4500_captions.json`): `images` and `annotations`."""
    path = find_file(data, "nocaps_val_4500_captions.json", "nocaps_val.json")
    root = images or path.parent
    doc = read_json(path)
    captions: dict = {}
    for ann in field_of(doc, "annotations", str(path)):
        captions.setdefault(ann["image_id"], []).append(ann["caption"])
    items = []
    for row in field_of(doc, "images", str(path)):
        name = row.get("file_name") or field_of(row, "image", str(path))
        if row["id"] not in captions:
            raise ValueError(f"{path}: image {row['id']} has no captions")
        items.append(Item(id=str(row["id"]), images=(locate(root, name, f"images/{name}"),),
                          answers=tuple(captions[row["id"]]), group=row.get("domain", "")))
    check_unique(items, path)
    return items


def score_cider(items: list[Item], predictions: dict[str, dict]) -> Scores:
    """Corpus CIDEr (x100), and per group (NoCaps domains) over that group's images alone."""
    texts = prediction_texts(items, predictions)
    result = cider_score({i.id: t for i, t in zip(items, texts)}, {i.id: list(i.answers) for i in items})
    breakdown = {}
    for group in sorted({i.group for i in items if i.group}):
        part = [(i, t) for i, t in zip(items, texts) if i.group == group]
        value = cider_score({i.id: t for i, t in part}, {i.id: list(i.answers) for i, _ in part}).value
        breakdown[group] = {"CIDEr": percent(value), "items": len(part)}
    return Scores({"CIDEr": percent(result.value)}, dict(result.per_image), breakdown=breakdown)


def _base(item: Item) -> str:
    return image_tag(item.images[0]) + prompts.CAPTION


def _chat(item: Item) -> str:
    return prompts.CAPTION


def _shot(item: Item) -> str:
    return item.answers[0]


def caption_task(name: str, description: str, read) -> Task:
    # Official evaluate_caption.py: greedy, 30 new tokens at most, 8 at least.
    return Task(name, description, read, _base, _chat, score_cider, max_new_tokens=30, min_new_tokens=8,
                shot_answer=_shot)


TASKS = [
    caption_task("flickr30k", "Flickr30K Karpathy test split (dataset_flickr30k.json), CIDEr", read_karpathy),
    caption_task("nocaps", "NoCaps val (nocaps_val_4500_captions.json), CIDEr overall and per domain",
                 read_coco_captions),
]
