"""Referring-expression accuracy (Acc@IoU>=0.5) as Qwen-VL's eval_mm/evaluate_grounding.py scores it.

The first "(x1,y1),(x2,y2)" in the reply is read with the evaluator's own regex; coordinates
are on Qwen-VL's 0..999 grid, so the evaluator divides by 999 and scales by the image size.
We also report the /1000 reading for comparison. IoU is computed in float32 with the same
operations (no +1 on widths, inverted boxes left as they are), so threshold decisions agree bit
for bit. A reply that does not parse is a miss, as the evaluator's (0,0,0,0) fallback always is,
but we count those separately so a formatting regression cannot pass as a grounding one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOX_PATTERN = re.compile(r"\((.*?)\),\((.*?)\)")
IOU_THRESHOLD = 0.5
OFFICIAL_DIVISOR = 999.0
ALTERNATE_DIVISOR = 1000.0

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class GroundingScore:
    """Acc@IoU>=0.5 with /999 scaling (official) and /1000, with per-item IoUs (None: unparsed)."""

    accuracy: float
    accuracy_1000: float
    total: int
    parse_failures: int
    ious: tuple[float | None, ...]
    ious_1000: tuple[float | None, ...]


def parse_box(reply: str) -> Box | None:
    """The first "(x1,y1),(x2,y2)" in a reply on the 0..999 grid, or None where the evaluator
    would fall back to (0,0,0,0)."""
    found = BOX_PATTERN.findall(reply)
    if not found:
        return None
    first, second = found[0]
    if "," not in first or "," not in second:
        return None
    try:
        x1, y1 = (float(v) for v in first.split(","))
        x2, y2 = (float(v) for v in second.split(","))
    except ValueError:
        return None
    return (x1, y1, x2, y2)


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (N, 4) x1y1x2y2 float32 arrays, torchvision-style (no +1)."""
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    lt = np.maximum(boxes1[:, :2], boxes2[:, :2])
    rb = np.minimum(boxes1[:, 2:], boxes2[:, 2:])
    wh = np.maximum(rb - lt, np.float32(0))
    inter = wh[:, 0] * wh[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area1 + area2 - inter)


def _ious(boxes: np.ndarray, gt: np.ndarray, sizes: np.ndarray, divisor: float) -> np.ndarray:
    scaled = boxes / np.float32(divisor)
    scaled[:, 0::2] *= sizes[:, :1]
    scaled[:, 1::2] *= sizes[:, 1:]
    return box_iou(scaled, gt)


def refexp_accuracy(replies: Sequence[str], gt_boxes: Sequence[Sequence[float]],
                    image_sizes: Sequence[tuple[int, int]]) -> GroundingScore:
    """Score generated replies against ground-truth x1y1x2y2 pixel boxes; sizes are (width, height)."""
    if not len(replies) == len(gt_boxes) == len(image_sizes):
        raise ValueError("replies, gt_boxes and image_sizes must be the same length")
    if not replies:
        raise ValueError("nothing to score: no items")
    parsed = [parse_box(reply) for reply in replies]
    boxes = np.array([box or (0.0, 0.0, 0.0, 0.0) for box in parsed], dtype=np.float32)
    gt = np.array(gt_boxes, dtype=np.float32)
    sizes = np.array(image_sizes, dtype=np.float32)
    if gt.shape != (len(replies), 4) or sizes.shape != (len(replies), 2):
        raise ValueError("each item needs one x1y1x2y2 box and one (width, height)")
    failed = [box is None for box in parsed]
    results = []
    for divisor in (OFFICIAL_DIVISOR, ALTERNATE_DIVISOR):
        ious = _ious(boxes, gt, sizes, divisor)
        hits = sum(bool(iou >= IOU_THRESHOLD) and not miss for iou, miss in zip(ious, failed))
        per_item = tuple(None if miss else float(iou) for iou, miss in zip(ious, failed))
        results.append((hits / len(replies), per_item))
    (accuracy, ious), (accuracy_1000, ious_1000) = results
    return GroundingScore(accuracy, accuracy_1000, len(replies), sum(failed), ious, ious_1000)
