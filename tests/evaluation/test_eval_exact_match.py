"""Exact match (OCR-VQA, AI2D) and GQA post-processing against Qwen-VL's evaluate_vqa.py transcription."""

from __future__ import annotations

import copy
import json
import random

import pytest
from eval_oracles import official
from eval_random_cases import exact_match_set, gqa_set

from qwenvl.evaluation.metrics import (
    exact_match,
    exact_match_accuracy,
    gqa_accuracy,
    gqa_postprocess,
)


def merged_outputs(predictions, targets):
    return json.loads(json.dumps([{"answer": p, "annotation": t} for p, t in zip(predictions, targets)]))


@pytest.mark.parametrize("seed", [0, 1])
def test_gqa_matches_official_on_random_sets(seed):
    predictions, targets = gqa_set(random.Random(seed), 1500)
    ref = official("qwen_vl_evaluate_vqa")
    entries = merged_outputs(predictions, targets)
    ref.postprocess_gqa(entries)
    processed = [e["answer"] for e in entries]
    score = ref.evaluate_exact_match_accuracy(copy.deepcopy(entries))
    assert [gqa_postprocess(p) for p in predictions] == processed
    assert gqa_accuracy(predictions, targets).value == pytest.approx(score, abs=1e-12)
    assert 0.2 < score < 0.9


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_match_matches_official_on_random_sets(seed):
    predictions, targets = exact_match_set(random.Random(seed), 1500)
    ref = official("qwen_vl_evaluate_vqa")
    entries = merged_outputs(predictions, targets)
    per_item = [ref.evaluate_exact_match_accuracy([copy.deepcopy(e)]) for e in entries]
    ours = exact_match_accuracy(predictions, targets)
    assert ours.value == pytest.approx(ref.evaluate_exact_match_accuracy(entries), abs=1e-12)
    assert list(ours.per_item) == per_item


def test_gqa_postprocess_by_hand():
    # first clause, lower-cased; after "is " -> "a cat"; after "a " -> "cat"
    assert gqa_postprocess("The answer is a cat.") == "cat"
    assert gqa_postprocess("Yes, it is.") == "yes"
    # "it is on the left" -> "on the left" -> "left"
    assert gqa_postprocess("It is on the left!") == "left"
    # cut before " of"
    assert gqa_postprocess("cup of coffee") == "cup"
    # the substring tests are literal: "this is" holds "is " twice, so split("is ")[1] is ""
    assert gqa_postprocess("this is a cat") == ""
    # and "a banana split".split("a ") == ["", "banan", "split"]
    assert gqa_postprocess("a banana split") == "banan"


def test_exact_match_by_hand():
    assert exact_match(" The Great Gatsby\n", "the great gatsby") == 1.0
    assert exact_match("Gatsby", ["The Great Gatsby", " gatsby "]) == 1.0
    assert exact_match("B.", "B") == 0.0
    # 2 of 3
    assert exact_match_accuracy(["a", "B", "c"], ["A", "b", "d"]).value == pytest.approx(2 / 3)
