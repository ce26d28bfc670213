"""Referring expression comprehension: RefCOCO, RefCOCO+ and RefCOCOg, every split, Acc@IoU>=0.5.

Two widely used JSON conversions are read (never the pickled `refs(unc).p`):
- the official Qwen-VL `refcoco_val.jsonl` files: {image, sent, bbox, width, height} per line, where
  `bbox` is x1, y1, x2, y2 in pixels (the official evaluator compares it as such);
- MDETR's COCO-format `final_refcoco_val.json`: one `images` entry per expression (`caption`) and
  its referred object in `annotations` with a COCO x, y, w, h `bbox`.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ...interface import prompts
from ...interface.grounding import GRID, Box, normalize_box
from ..metrics import parse_box, refexp_accuracy
from .base import (
    Item,
    Scores,
    Task,
    check_unique,
    field_of,
    image_tag,
    locate,
    percent,
    prediction_texts,
    read_json,
    read_jsonl,
)

SPLITS = {"refcoco": ("val", "testA", "testB"), "refcoco+": ("val", "testA", "testB"), "refcocog": ("val", "test")}


def _coco_image(root: Path, name: str) -> str:
    base = Path(name).name
    return locate(root, name, f"train2014/{base}", f"images/{base}", base)


def read_qwen_jsonl(path: Path, root: Path) -> list[Item]:
    items = []
    for n, row in enumerate(read_jsonl(path)):
        where = f"{path}:{n + 1}"
        box = tuple(float(v) for v in field_of(row, "bbox", where))
        items.append(Item(id=str(n), images=(_coco_image(root, field_of(row, "image", where)),),
                          question=field_of(row, "sent", where), box=box,
                          size=(int(field_of(row, "width", where)), int(field_of(row, "height", where)))))
    return items


def read_mdetr_json(path: Path, root: Path) -> list[Item]:
    doc = read_json(path)
    boxes = {}
    for ann in field_of(doc, "annotations", str(path)):
        boxes.setdefault(ann["image_id"], ann["bbox"])  # the referred object is the expression's only box
    items = []
    for row in field_of(doc, "images", str(path)):
        where = f"{path} image {row.get('id')}"
        if row["id"] not in boxes:
            raise ValueError(f"{where}: no annotation box for this expression")
        x, y, w, h = (float(v) for v in boxes[row["id"]])
        items.append(Item(id=str(row["id"]), images=(_coco_image(root, field_of(row, "file_name", where)),),
                          question=field_of(row, "caption", where), box=(x, y, x + w, y + h),
                          size=(int(row["width"]), int(row["height"]))))
    return items


def read_refexp(data: Path, images: Path | None) -> list[Item]:
    """A split file: `.jsonl` in the Qwen-VL conversion, `.json` in MDETR's."""
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: give the split's file (refcoco_val.jsonl or final_refcoco_val.json)")
    read = read_qwen_jsonl if path.suffix == ".jsonl" else read_mdetr_json
    items = read(path, images or path.parent)
    check_unique(items, path)
    return items


def image_size(item: Item) -> tuple[int, int]:
    if item.size is not None:
        return item.size
    with Image.open(item.images[0]) as image:  # reads the header only
        return image.size


def score_refexp(items: list[Item], predictions: dict[str, dict]) -> Scores:
    """The official Acc@0.5 (boxes scaled by /999), the /1000 reading beside it; unparsed replies
    are misses and are listed."""
    texts = prediction_texts(items, predictions)
    result = refexp_accuracy(texts, [i.box for i in items], [image_size(i) for i in items])
    per_item = {i.id: float(iou is not None and iou >= 0.5) for i, iou in zip(items, result.ious)}
    failures = tuple(i.id for i, iou in zip(items, result.ious) if iou is None)
    return Scores({"accuracy": percent(result.accuracy), "accuracy_1000": percent(result.accuracy_1000)},
                  per_item, failures)


def predicted_box(reply: str) -> Box | None:
    """The box the evaluator reads from `reply` (its first coordinate pair), on the grid, for drawing."""
    corners = parse_box(reply)
    if corners is None:
        return None
    return Box("predicted", *(min(max(round(v), 0), GRID - 1) for v in corners))


def refexp_boxes(item: Item, prediction: dict) -> tuple[list[Box], list[Box]]:
    predicted = predicted_box(prediction.get("text", ""))
    return [predicted] if predicted else [], [Box("true", *normalize_box(item.box, *image_size(item)))]


def refexp_task(name: str) -> Task:
    # Official evaluate_grounding.py: greedy, 10 to 28 new tokens; a chat answer also repeats the ref.
    return Task(name, f"{name} (Qwen-VL .jsonl or MDETR .json conversion), Acc@IoU>=0.5", read_refexp,
                lambda item: image_tag(item.images[0]) + prompts.GROUNDING_RAW.format(expression=item.question),
                lambda item: prompts.GROUNDING_CHAT.format(expression=item.question), score_refexp,
                max_new_tokens=28, min_new_tokens=10, chat_max_new_tokens=64, boxes=refexp_boxes)


TASKS = [refexp_task(f"{dataset}_{split}") for dataset, splits in SPLITS.items() for split in splits]
