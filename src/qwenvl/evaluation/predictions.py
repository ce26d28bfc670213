"""Predictions on disk: one append-only JSONL file per rank, read back together.

A run can be killed at any moment, so a file may end in a half-written line: reading ignores
it, and a rank reopening its file cuts it off before appending. An item counts as done once a
row without an `error` exists for it in any rank's file, so a resumed run, with any number of
ranks, skips it; items that failed are tried again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

PATTERN = "predictions.rank*.jsonl"


def complete_rows(path: Path) -> list[dict]:
    """The rows of whole lines; a last line without its newline is still being written (or was cut)."""
    data = path.read_bytes()
    rows = []
    for line in data.split(b"\n")[:-1]:
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(row, dict) and "id" in row:
            rows.append(row)
    return rows


def merge(rows: Iterable[dict]) -> dict[str, dict]:
    """One row per item id: the first successful row, else the last error."""
    merged: dict[str, dict] = {}
    for row in rows:
        kept = merged.get(row["id"])
        if kept is None or "error" in kept:
            merged[row["id"]] = row
    return merged


class PredictionStore:
    def __init__(self, folder: Path, rank: int):
        self.folder = Path(folder)
        self.path = self.folder / f"predictions.rank{rank}.jsonl"

    def load(self) -> dict[str, dict]:
        """Every rank's rows merged by item id."""
        return merge(row for path in sorted(self.folder.glob(PATTERN)) for row in complete_rows(path))

    def done_ids(self) -> set[str]:
        return {item_id for item_id, row in self.load().items() if "error" not in row}

    def cut_partial_line(self) -> None:
        """Drop a half-written last line left by an interrupted run, so appends start on a fresh line."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def append(self, rows: list[dict]) -> None:
        """Whole lines, flushed and synced, so what a crash leaves behind is at most one partial line."""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
            f.flush()
            os.fsync(f.fileno())
