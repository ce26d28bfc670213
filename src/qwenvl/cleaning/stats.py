"""Per-source counters for one shard, in a JSON-ready shape that merges across shards.

Shape: {source: {"original": n, "dropped": {rule: n}, "not_applied": {rule: n}}}. Every pair
read adds one to `original` and at most one drop, so original - sum(dropped) is what was written.
"""

from __future__ import annotations

from .rules import RULE_ORDER

Counts = dict[str, dict]


def _entry(counts: Counts, source: str) -> dict:
    return counts.setdefault(source, {"original": 0, "dropped": {}, "not_applied": {}})


def add_pair(counts: Counts, source: str) -> None:
    _entry(counts, source)["original"] += 1


def add_drop(counts: Counts, source: str, rule: str) -> None:
    dropped = _entry(counts, source)["dropped"]
    dropped[rule] = dropped.get(rule, 0) + 1


def add_not_applied(counts: Counts, source: str, rule: str) -> None:
    skipped = _entry(counts, source)["not_applied"]
    skipped[rule] = skipped.get(rule, 0) + 1


def merge(into: Counts, other: Counts) -> Counts:
    for source, entry in other.items():
        target = _entry(into, source)
        target["original"] += entry["original"]
        for key in ("dropped", "not_applied"):
            for rule, n in entry[key].items():
                target[key][rule] = target[key].get(rule, 0) + n
    return into


def combined(counts: Counts) -> dict:
    """All sources together, as one entry."""
    out: Counts = {"total": {"original": 0, "dropped": {}, "not_applied": {}}}
    for entry in counts.values():
        merge(out, {"total": entry})
    return out["total"]


def kept(entry: dict) -> int:
    return entry["original"] - sum(entry["dropped"].values())


def funnel(entry: dict) -> list[dict]:
    """Pairs reaching each rule in RULE_ORDER, how many it dropped, and the share that passed."""
    rows, remaining = [], entry["original"]
    for rule in RULE_ORDER:
        dropped = entry["dropped"].get(rule, 0)
        rows.append({"rule": rule, "pairs_in": remaining, "dropped": dropped,
                     "remaining_pct": pct(remaining - dropped, remaining)})
        remaining -= dropped
    return rows


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None
