"""The result shape shared by the metrics, and the mean the official scorers take.

Every official scorer averages per-item values with a plain left-to-right `sum(...) / len(...)`;
doing the same keeps our corpus values bit-identical to theirs, not merely close.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    """A corpus-level value in [0, 1] and the per-item values it is the mean of."""

    value: float
    per_item: tuple[float, ...]


def mean_score(items: Iterable[float]) -> Score:
    """Mean of per-item values in the official scorers' own order of summation."""
    values = tuple(float(item) for item in items)
    if not values:
        raise ValueError("nothing to score: no items")
    return Score(sum(values) / len(values), values)


def as_targets(target: str | Sequence[str]) -> list[str]:
    """One reference string or several, as a non-empty list (Qwen-VL accepts either)."""
    targets = [target] if isinstance(target, str) else list(target)
    if not targets:
        raise ValueError("an item has no reference answers")
    return targets


def check_lengths(predictions: Sequence, references: Sequence) -> None:
    """Predictions and references are paired by position, so their counts must agree."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference entries")
