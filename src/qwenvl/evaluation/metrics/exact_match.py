"""Exact-match accuracy of Qwen-VL's eval_mm/evaluate_vqa.py (GQA, OCR-VQA, AI2D).

Answers and references are compared stripped and lower-cased; GQA answers first go through the
post-processing that script applies to free-form replies (it cuts the reply down to the noun
phrase). Its substring tests are kept as written — "this is" contains "is " twice, so
"this is a cat" becomes "" — because the published GQA number was computed that way.
"""

from __future__ import annotations

from collections.abc import Sequence

from .score import Score, as_targets, check_lengths, mean_score


def exact_match(prediction: str, targets: str | Sequence[str]) -> float:
    """1.0 when the stripped, lower-cased answer equals any stripped, lower-cased reference."""
    answer = prediction.strip().lower()
    return float(any(answer == target.strip().lower() for target in as_targets(targets)))


def exact_match_accuracy(predictions: Sequence[str], targets: Sequence[str | Sequence[str]]) -> Score:
    """Fraction of exact matches (OCR-VQA, AI2D)."""
    check_lengths(predictions, targets)
    return mean_score(exact_match(p, t) for p, t in zip(predictions, targets))


def gqa_postprocess(response: str) -> str:
    """Qwen-VL's GQA reply clean-up: first clause, lower-cased, text after a copula/article, before " of"."""
    response = response.strip().split(".")[0].split(",")[0].split("!")[0].lower()
    for marker in ("is ", "are ", "a ", "an ", "the "):
        if marker in response:
            response = response.split(marker)[1]
    if " of" in response:
        response = response.split(" of")[0]
    return response.strip()


def gqa_accuracy(predictions: Sequence[str], targets: Sequence[str | Sequence[str]]) -> Score:
    """GQA accuracy: post-processed replies scored by exact match."""
    return exact_match_accuracy([gqa_postprocess(p) for p in predictions], targets)
