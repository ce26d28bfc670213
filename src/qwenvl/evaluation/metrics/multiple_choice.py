"""Multiple choice scored by ranking the options, as Qwen-VL's evaluate_multiple_choice.py does.

The model is asked once per option; each option gets the mean token loss of its answer tokens
(or, equivalently for ranking, a summed log-likelihood). The prediction is the best option, the
first one on ties (what `torch.argmin` returns). Computing the scores is the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .score import check_lengths, mean_score


@dataclass(frozen=True)
class MultipleChoiceScore:
    """Accuracy in [0, 1], each item's 1.0/0.0, and the option index predicted for each item."""

    value: float
    per_item: tuple[float, ...]
    predictions: tuple[int, ...]


def predict_option(scores: Sequence[float], higher_is_better: bool = False) -> int:
    """Index of the best option: lowest loss by default, highest log-likelihood when asked."""
    if not scores:
        raise ValueError("an item has no options")
    if any(math.isnan(s) for s in scores):
        raise ValueError("an option score is NaN: the scores are broken, not rankable")
    best = max(scores) if higher_is_better else min(scores)
    return list(scores).index(best)


def multiple_choice_accuracy(option_scores: Sequence[Sequence[float]], answers: Sequence[int],
                             higher_is_better: bool = False) -> MultipleChoiceScore:
    """Accuracy of the ranked choice against the correct option indices."""
    check_lengths(option_scores, answers)
    predictions = tuple(predict_option(scores, higher_is_better) for scores in option_scores)
    score = mean_score(float(p == a) for p, a in zip(predictions, answers))
    return MultipleChoiceScore(score.value, score.per_item, predictions)
