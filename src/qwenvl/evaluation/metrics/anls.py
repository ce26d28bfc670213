"""ANLS as the DocVQA/InfographicVQA official script computes it (Qwen-VL runs that script).

Per human answer, the edit distance between whitespace-collapsed, lower-cased strings is divided
by the longer of the two *original* strings' upper-cased lengths (the script's own choice, so
extra spaces lower the distance but not the length). The item scores 1 minus the smallest such
ratio, and 0 when that is below the threshold: a ratio of exactly 0.5 still scores 0.5 here,
unlike the ST-VQA paper's strict "NL < 0.5".
"""

from __future__ import annotations

from collections.abc import Sequence

from .score import Score, as_targets, check_lengths, mean_score

ANLS_THRESHOLD = 0.5


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute; each costs 1)."""
    if len(a) > len(b):
        a, b = b, a
    previous = list(range(len(a) + 1))
    for j, char_b in enumerate(b, start=1):
        current = [j]
        for i, char_a in enumerate(a, start=1):
            cost = previous[i - 1] if char_a == char_b else 1 + min(previous[i - 1], previous[i], current[-1])
            current.append(cost)
        previous = current
    return previous[-1]


def _collapse(text: str) -> str:
    return " ".join(text.strip().lower().split())


def anls_item(prediction: str, answers: str | Sequence[str], threshold: float = ANLS_THRESHOLD) -> float:
    """One question's ANLS in [0, 1] against its human answers."""
    predicted = _collapse(prediction)
    ratios = []
    for answer in as_targets(answers):
        length = max(len(answer.upper()), len(prediction.upper()))
        ratios.append(0.0 if length == 0 else levenshtein(_collapse(answer), predicted) / length)
    score = 1 - min(ratios)
    return 0.0 if score < threshold else score


def anls(predictions: Sequence[str], answers: Sequence[str | Sequence[str]],
         threshold: float = ANLS_THRESHOLD) -> Score:
    """Mean ANLS over questions, as the script's "Overall ANLS"."""
    check_lengths(predictions, answers)
    return mean_score(anls_item(p, a, threshold) for p, a in zip(predictions, answers))
