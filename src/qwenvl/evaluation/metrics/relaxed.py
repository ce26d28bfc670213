"""ChartQA relaxed accuracy exactly as Qwen-VL's eval_mm/evaluate_vqa.py scores it.

Qwen-VL calls Pix2Struct's `relaxed_correctness(target, prediction)` as
`relaxed_correctness(answer.strip(), annotation)`: the model's answer lands in the *target*
slot. So the 5% tolerance is relative to the model's answer, a model answer of 0 (or "0%") falls
back to string equality, and only the model's answer is stripped. We keep that order because the
published numbers were produced with it. "%"-suffixed numbers are divided by 100.
"""

from __future__ import annotations

from collections.abc import Sequence

from .score import Score, as_targets, check_lengths, mean_score

MAX_RELATIVE_CHANGE = 0.05


def _to_float(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correctness(answer: str, target: str, max_relative_change: float = MAX_RELATIVE_CHANGE) -> bool:
    """Whether a model answer matches one reference: numbers within tolerance, else equal ignoring case."""
    answer = answer.strip()
    answer_value = _to_float(answer)
    target_value = _to_float(target)
    if target_value is not None and answer_value:
        return abs(target_value - answer_value) / abs(answer_value) <= max_relative_change
    return target.lower() == answer.lower()


def relaxed_accuracy(predictions: Sequence[str], targets: Sequence[str | Sequence[str]]) -> Score:
    """Fraction of answers relaxed-correct against any of their references."""
    check_lengths(predictions, targets)
    return mean_score(
        float(any(relaxed_correctness(p, t) for t in as_targets(ts))) for p, ts in zip(predictions, targets)
    )
