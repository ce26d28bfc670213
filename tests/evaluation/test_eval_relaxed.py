"""ChartQA relaxed accuracy against Qwen-VL's evaluate_vqa.py transcription, plus hand-worked cases."""

from __future__ import annotations

import copy
import json
import random

import pytest
from eval_oracles import official
from eval_random_cases import relaxed_set

from qwenvl.evaluation.metrics import relaxed_accuracy, relaxed_correctness


def official_relaxed(predictions, targets):
    """Qwen-VL's merged_outputs for ChartQA, through its JSON dump, scored by its own function."""
    entries = json.loads(json.dumps([{"answer": p, "annotation": t} for p, t in zip(predictions, targets)]))
    ref = official("qwen_vl_evaluate_vqa")
    items = [ref.evaluate_relaxed_accuracy([copy.deepcopy(e)]) for e in entries]
    return ref.evaluate_relaxed_accuracy(entries), items


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_official_on_random_sets(seed):
    predictions, targets = relaxed_set(random.Random(seed), 1500)
    score, per_item = official_relaxed(predictions, targets)
    ours = relaxed_accuracy(predictions, targets)
    assert ours.value == pytest.approx(score, abs=1e-12)
    assert list(ours.per_item) == per_item
    assert 0.2 < ours.value < 0.8


def test_tolerance_by_hand():
    # |10 - 10.4| / 10.4 = 0.038 <= 0.05
    assert relaxed_correctness("10.4", "10")
    # Qwen-VL passes the model's answer as Pix2Struct's *target*: the tolerance is relative to
    # the answer, 0.52 / 10 = 0.052 fails (relative to the reference, 0.52 / 10.52 = 0.049, it would pass)
    assert not relaxed_correctness("10", "10.52")
    # a percentage is divided by 100: 50% == 0.5
    assert relaxed_correctness("50%", "0.5")
    assert not relaxed_correctness("5%", "5")


def test_fallbacks_by_hand():
    # a zero answer is falsy, so strings are compared: "0" == "0" but "0.0" != "0"
    assert relaxed_correctness("0", "0")
    assert not relaxed_correctness("0.0", "0")
    # text: case-insensitive; the answer is stripped, the reference is not
    assert relaxed_correctness(" Yes ", "yes")
    assert not relaxed_correctness("yes", " yes")
    # "1,000" is not a float: string comparison
    assert not relaxed_correctness("1000", "1,000")


def test_any_reference_counts():
    # item 1 hits its second reference, item 2 misses: 1/2
    assert relaxed_accuracy(["12", "x"], [["100", "12.5"], "y"]).value == 0.5
