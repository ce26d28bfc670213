"""VQA accuracy against the transcribed official VQA evaluator, plus hand-worked cases."""

from __future__ import annotations

import json
import random

import pytest
from eval_oracles import official
from eval_random_cases import vqa_set

from qwenvl.evaluation.metrics import (
    normalize_prediction,
    process_punctuation,
    vqa_accuracy,
    vqa_answer_accuracy,
)
from qwenvl.evaluation.metrics.vqa_normalize import (
    CONTRACTIONS,
    NUMBER_WORDS,
    PUNCTUATION,
)


def official_vqa(tmp_path, predictions, answers):
    """Write VQA-format question/annotation/result files and score them with the official evaluator."""
    ref = official("vqa_official")
    ids = [1000 + i for i in range(len(predictions))]
    questions = {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "data_subtype": "val2014",
                 "license": {}, "questions": [{"question_id": q, "image_id": q, "question": "?"} for q in ids]}
    annotations = {"annotations": [
        {"question_id": q, "image_id": q, "question_type": "what", "answer_type": "other",
         "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": k + 1} for k, a in enumerate(humans)]}
        for q, humans in zip(ids, answers)]}
    results = [{"question_id": q, "answer": p} for q, p in zip(ids, predictions)]
    files = {}
    for name, data in (("questions", questions), ("annotations", annotations), ("results", results)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(data))
    vqa = ref.VQA(str(files["annotations"]), str(files["questions"]))
    scorer = ref.VQAEval(vqa, vqa.loadRes(str(files["results"]), str(files["questions"])), n=12)
    scorer.evaluate()
    return scorer.accuracy["overall"], [scorer.evalQA[q] for q in ids]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_official_evaluator_on_random_sets(tmp_path, seed):
    predictions, answers = vqa_set(random.Random(seed), 700)
    overall, per_question = official_vqa(tmp_path, predictions, answers)
    ours = vqa_accuracy(predictions, answers)
    assert 100 * ours.value == pytest.approx(overall, abs=1e-9)
    assert [100 * v for v in ours.per_item] == pytest.approx(per_question, abs=1e-9)
    assert round(100 * ours.value, 2) == round(overall, 2)
    # the sets must exercise partial credit, not only 0 and 1
    assert len({round(v, 6) for v in ours.per_item}) >= 5


def test_normalization_tables_match_official():
    ref = official("vqa_official").VQAEval()
    assert CONTRACTIONS == ref.contractions
    assert NUMBER_WORDS == ref.manualMap
    assert list(PUNCTUATION) == ref.punct


@pytest.mark.parametrize("text", ["Two.", "1,000 dogs", "yes, sir", "a,b", "t-shirt", "(left)",
                                  "x." * 40, "3.5", "Dont!", "\tThe  Cat\n", "black/white", "mr. smith"])
def test_normalize_prediction_matches_official(text):
    ref = official("vqa_official").VQAEval()
    assert normalize_prediction(text) == ref.processDigitArticle(ref.processPunctuation(text.strip()))


def test_punctuation_rules_by_hand():
    # a digit-comma-digit anywhere means every punctuation mark is deleted, not spaced
    assert process_punctuation("1,000 (approx)") == "1000 approx"
    # a mark next to a space is deleted; one inside a word becomes a space
    assert process_punctuation("yes, sir") == "yes sir"
    assert process_punctuation("a,b") == "a b"
    # periods not followed by a digit go; the official passes re.UNICODE (32) as the count,
    # so of 40 such periods the last 8 survive
    assert process_punctuation("x." * 40) == "x" * 32 + "x." * 8
    assert process_punctuation("3.5") == "3.5"


def test_accuracy_by_hand():
    # "Two." -> "two" -> "2". Humans: 2 x "2", 8 x "3". Leaving out a "2" leaves 1 match (1/3),
    # leaving out a "3" leaves 2 (2/3): (2 * 1/3 + 8 * 2/3) / 10 = 0.6
    assert vqa_answer_accuracy("Two.", ["2"] * 2 + ["3"] * 8) == pytest.approx(0.6)
    # "Dont" -> "don't". Humans: 3 x "don't", 7 x "no": (3 * 2/3 + 7 * 1) / 10 = 0.9
    assert vqa_answer_accuracy("Dont", ["don't"] * 3 + ["no"] * 7) == pytest.approx(0.9)
    # articles dropped: "the cat" -> "cat", all 10 humans agree: 1.0
    assert vqa_answer_accuracy("the cat", ["cat"] * 10) == 1.0
    # 3 or more matches among the other 9 is full credit
    assert vqa_answer_accuracy("red", ["red"] * 4 + ["blue"] * 6) == 1.0


def test_identical_human_answers_are_not_normalized():
    # the prediction becomes "t shirt"; identical human answers stay "t-shirt": no credit
    assert vqa_answer_accuracy("t-shirt", ["t-shirt"] * 10) == 0.0
    # once the humans disagree they are punctuation-processed too: 9 x "t shirt" -> full credit
    assert vqa_answer_accuracy("t-shirt", ["t-shirt"] * 9 + ["shirt"]) == 1.0


def test_rejects_mismatched_or_empty_input():
    with pytest.raises(ValueError):
        vqa_accuracy(["a"], [])
    with pytest.raises(ValueError):
        vqa_answer_accuracy("a", [])
    with pytest.raises(ValueError):
        vqa_accuracy([], [])
