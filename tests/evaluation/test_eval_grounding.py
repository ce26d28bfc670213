"""Referring-expression Acc@0.5 against the transcribed Qwen-VL grounding evaluator, plus hand-worked cases."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from eval_oracles import official
from eval_random_cases import grounding_set

from qwenvl.evaluation.metrics import box_iou, parse_box, refexp_accuracy


def official_grounding(replies, boxes, sizes, divisor):
    outputs = [{"answer": r, "gt_bbox": b, "hw": (h, w)} for r, b, (w, h) in zip(replies, boxes, sizes)]
    return official("qwen_vl_evaluate_grounding").evaluate(outputs, divisor)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_official_evaluator_on_random_sets(seed):
    replies, boxes, sizes = grounding_set(random.Random(seed), 800)
    ours = refexp_accuracy(replies, boxes, sizes)
    for divisor, accuracy, our_ious in ((999, ours.accuracy, ours.ious), (1000, ours.accuracy_1000, ours.ious_1000)):
        official_accuracy, official_ious = official_grounding(replies, boxes, sizes, divisor)
        assert accuracy == pytest.approx(official_accuracy, abs=1e-12)
        # bit-identical float32 IoUs wherever the reply parsed
        parsed = [(mine, theirs) for mine, theirs in zip(our_ious, official_ious) if mine is not None]
        assert all(mine == theirs or (math.isnan(mine) and math.isnan(theirs)) for mine, theirs in parsed)
    assert 0.1 < ours.accuracy < 0.9 and ours.parse_failures > 0


def test_parse_failures_are_counted_and_scored_as_misses():
    # parse failures are exactly the replies the official evaluator turns into (0,0,0,0)
    replies, boxes, sizes = grounding_set(random.Random(3), 400)
    ours = refexp_accuracy(replies, boxes, sizes)
    failed = [parse_box(r) is None for r in replies]
    assert ours.parse_failures == sum(failed) > 0
    assert all((iou is None) == f for iou, f in zip(ours.ious, failed))
    _, official_ious = official_grounding(replies, boxes, sizes, 999)
    assert all(not iou >= 0.5 for iou, f in zip(official_ious, failed) if f)


def test_parse_box_by_hand():
    assert parse_box("(1,2),(3,4)") == (1.0, 2.0, 3.0, 4.0)
    assert parse_box("<ref>dog</ref><box>(10, 20),(30.5,40)</box>") == (10.0, 20.0, 30.5, 40.0)
    # the first pair wins
    assert parse_box("(1,2),(3,4) then (5,6),(7,8)") == (1.0, 2.0, 3.0, 4.0)
    for bad in ["", "no box", "(1,2)(3,4)", "(1;2),(3,4)", "(1,2,3),(4,5)", "(a,b),(c,d)", "(,2),(3,4)"]:
        assert parse_box(bad) is None, bad


def test_box_iou_by_hand():
    a = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 1, 1]], dtype=np.float32)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [2, 2, 3, 3]], dtype=np.float32)
    # overlap 1, union 4 + 4 - 1 = 7; identical; disjoint
    assert box_iou(a, b).tolist() == pytest.approx([1 / 7, 1.0, 0.0])


def test_accuracy_by_hand():
    sizes = [(1000, 500), (999, 999), (999, 999), (999, 999)]
    replies = ["(0,0),(999,999)", "<box>(100,100),(300,300)</box>", "(100,100),(300,300)", "nothing"]
    boxes = [[0, 0, 1000, 500], [100, 100, 300, 400], [100, 100, 300, 800], [0, 0, 10, 10]]
    score = refexp_accuracy(replies, boxes, sizes)
    # 1: the whole image, IoU 1. 2: 200x200 inside 200x300, IoU 2/3. 3: inside 200x700, IoU 2/7. 4: unparsed
    assert score.ious[:3] == pytest.approx([1.0, 2 / 3, 2 / 7], abs=1e-5)
    assert score.ious[3] is None and score.parse_failures == 1 and score.total == 4
    assert score.accuracy == 0.5
    # /1000 shrinks box 1 to 999 x 499.5 of 1000 x 500: IoU 0.998
    assert score.ious_1000[0] == pytest.approx(999 * 499.5 / (1000 * 500), abs=1e-6)
    assert score.accuracy_1000 == 0.5


def test_rejects_malformed_inputs():
    with pytest.raises(ValueError):
        refexp_accuracy(["(1,2),(3,4)"], [[0, 0, 10]], [(10, 10)])
    with pytest.raises(ValueError):
        refexp_accuracy(["(1,2),(3,4)"], [[0, 0, 10, 10]], [])
    with pytest.raises(ValueError):
        refexp_accuracy([], [], [])
