"""ANLS against the transcribed DocVQA/InfographicVQA official script, plus hand-worked cases."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
from eval_oracles import official
from eval_random_cases import anls_set

from qwenvl.evaluation.metrics import anls, anls_item, levenshtein


def official_anls(tmp_path, predictions, answers):
    """Write a DocVQA ground-truth file and a submission file and run the official script on them."""
    ref = official("infographicsvqa_eval")
    gt = {"dataset_name": "docvqa", "dataset_version": "1.0",
          "data": [{"questionId": i, "question": "?", "answers": a} for i, a in enumerate(answers)]}
    submission = [{"questionId": i, "answer": p} for i, p in enumerate(predictions)]
    gt_path, sub_path = tmp_path / "val_v1.0.json", tmp_path / "submission.json"
    gt_path.write_text(json.dumps(gt, ensure_ascii=False), encoding="utf-8")
    sub_path.write_text(json.dumps(submission, ensure_ascii=False), encoding="utf-8")
    ref.validate_data(str(gt_path), str(sub_path))
    result = ref.evaluate_method(str(gt_path), str(sub_path), SimpleNamespace(anls_threshold=0.5, answer_types=False))
    return result["result"]["score"], [result["per_sample_result"][str(i)]["score"] for i in range(len(predictions))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_official_script_on_random_sets(tmp_path, seed):
    predictions, answers = anls_set(random.Random(seed), 600)
    score, per_item = official_anls(tmp_path, predictions, answers)
    ours = anls(predictions, answers)
    assert ours.value == pytest.approx(score, abs=1e-12)
    assert list(ours.per_item) == pytest.approx(per_item, abs=1e-12)
    assert round(ours.value, 4) == round(score, 4)
    # the sets must exercise partial similarity, the threshold and exact hits
    assert any(0.5 <= v < 1 for v in ours.per_item) and 0.0 in ours.per_item and 1.0 in ours.per_item


def test_levenshtein_by_hand():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("flaw", "lawn") == 2
    assert levenshtein("same", "same") == 0


def test_anls_by_hand():
    assert anls_item("Hello", ["hello"]) == 1.0
    # one deletion over max length 5: 1 - 1/5
    assert anls_item("helo", ["hello"]) == pytest.approx(0.8)
    # best of several answers
    assert anls_item("helo", ["xyz", "hello"]) == pytest.approx(0.8)
    # nothing in common: 1 - 3/3 = 0
    assert anls_item("abc", ["xyz"]) == 0.0
    # 1 - 2/3 is below the 0.5 threshold
    assert anls_item("abc", ["axy"]) == 0.0
    # whitespace is collapsed before comparing
    assert anls_item("  new   york ", ["New York"]) == 1.0
    # both empty: length 0 counts as distance 0
    assert anls_item("", [""]) == 1.0


def test_official_script_quirks_by_hand():
    # ratio exactly 0.5 survives: the script zeroes only scores *below* the threshold
    assert anls_item("ab", ["ac"]) == 0.5
    # the length is of the original strings: "new  yorq" has 9 characters, so 1 - 1/9, not 1 - 1/8
    assert anls_item("new  yorq", ["new york"]) == pytest.approx(1 - 1 / 9)
    # and upper-cased: "straße" counts 7 ("STRASSE"); distance("strasse", "straße") is 2
    assert anls_item("strasse", ["Straße"]) == pytest.approx(1 - 2 / 7)


def test_corpus_mean_and_single_string_answers():
    # (1.0 + 0.8 + 0.0) / 3
    assert anls(["a", "helo", "abc"], ["a", ["hello"], ["xyz"]]).value == pytest.approx(0.6)
    with pytest.raises(ValueError):
        anls(["a"], [[]])
