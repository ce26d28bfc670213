"""Corpus statistics in the form of the paper's Table 2, plus the per-rule funnel behind it.

Built only from the `_done` markers, so the report of a restarted run is the same as the
report of an uninterrupted one.
"""

from __future__ import annotations

from . import stats
from .rules import RULE_ORDER, RULES


def build(markers: list[dict]) -> dict:
    """`markers` in corpus order; returns the JSON document written as clean_stats.json."""
    per_source: stats.Counts = {}
    for marker in markers:
        stats.merge(per_source, marker["counts"])
    total = stats.combined(per_source)
    table = [_row(name, per_source[name]) for name in sorted(per_source)] + [_row("total", total)]
    return {
        "rule_order": list(RULE_ORDER),
        "table": table,
        "rules": {"total": stats.funnel(total),
                  "per_source": {name: stats.funnel(per_source[name]) for name in sorted(per_source)}},
        "not_applied": {name: per_source[name]["not_applied"] for name in sorted(per_source)
                        if per_source[name]["not_applied"]},
        "shards": len(markers),
        "shard_problems": {m["shard"]: m["problems"] for m in markers if m["problems"]},
    }


def _row(name: str, entry: dict) -> dict:
    cleaned = stats.kept(entry)
    return {"source": name, "original": entry["original"], "cleaned": cleaned,
            "remaining_pct": stats.pct(cleaned, entry["original"]), "dropped": dict(entry["dropped"])}


def markdown(doc: dict) -> str:
    lines = ["# Image-text cleaning statistics", "",
             "| Source | Original | Cleaned | Remaining % |", "|---|---:|---:|---:|"]
    lines += [f"| {r['source']} | {r['original']} | {r['cleaned']} | {_pct(r['remaining_pct'])} |"
              for r in doc["table"]]
    lines += ["", "## Pairs dropped per rule", "",
              "Rules run in this order; a dropped pair is counted once, under the first rule it fails.", ""]
    lines += _funnel_table(doc["rules"]["total"])
    for source, rows in doc["rules"]["per_source"].items():
        lines += ["", f"### Source `{source}`", ""] + _funnel_table(rows)
    if doc["not_applied"]:
        lines += ["", "## Rules not applied", ""]
        for source, rules in doc["not_applied"].items():
            for rule, n in sorted(rules.items()):
                lines.append(f"- `{source}`: `{rule}` not applied to {n} pairs "
                             "(no score in metadata and no clip.scorer configured)")
    if doc["shard_problems"]:
        lines += ["", "## Shard problems", ""]
        for shard, problems in doc["shard_problems"].items():
            lines += [f"- `{shard}`: {p}" for p in problems]
    return "\n".join(lines) + "\n"


def _funnel_table(rows: list[dict]) -> list[str]:
    out = ["| Rule | Pairs in | Dropped | Remaining % | Meaning |", "|---|---:|---:|---:|---|"]
    out += [f"| {r['rule']} | {r['pairs_in']} | {r['dropped']} | {_pct(r['remaining_pct'])} | "
            f"{RULES[r['rule']]} |" for r in rows]
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
