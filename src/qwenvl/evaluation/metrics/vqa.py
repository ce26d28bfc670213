"""VQA accuracy as the official VQA evaluator computes it (VQAv2, OK-VQA, TextVQA, VizWiz in Qwen-VL).

Each of the n human answers is left out in turn; against the other n-1 the prediction scores
min(1, matches / 3), and the item's accuracy is the mean over the n leave-one-out subsets.
Human answers are compared as given, except that when they are not all identical each goes
through `process_punctuation` (and nothing else) — the official evaluator does exactly this.
The official code leaves answers out by dict inequality; with the distinct `answer_id`s of the
released annotation files that is leaving out by position, which is what we do.
"""

from __future__ import annotations

from collections.abc import Sequence

from .score import Score, check_lengths, mean_score
from .vqa_normalize import normalize_prediction, process_punctuation


def vqa_answer_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """One question's VQA accuracy in [0, 1] against its human answers (usually 10)."""
    if not answers:
        raise ValueError("a question has no human answers")
    predicted = normalize_prediction(prediction)
    humans = list(answers)
    if len(set(humans)) > 1:
        humans = [process_punctuation(answer) for answer in humans]
    matches = sum(answer == predicted for answer in humans)
    per_subset = [min(1, (matches - (answer == predicted)) / 3) for answer in humans]
    return sum(per_subset) / len(per_subset)


def vqa_accuracy(predictions: Sequence[str], answers: Sequence[Sequence[str]]) -> Score:
    """Mean VQA accuracy in [0, 1]; the official evaluator prints 100x this, rounded to 2 places."""
    check_lengths(predictions, answers)
    return mean_score(vqa_answer_accuracy(p, a) for p, a in zip(predictions, answers))
