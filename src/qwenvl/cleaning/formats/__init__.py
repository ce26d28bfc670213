"""Shard formats by file suffix; each module offers `read(path, cfg, problems)` and `Writer`.

A reader yields every pair it can see, in file order, and appends shard-level trouble (a
truncated archive, an unreadable file) to `problems` instead of raising: bad input is counted,
never a crash. Reading is deterministic, which the second (writing) pass relies on.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

SUFFIXES = {".tar": "tar", ".jsonl": "jsonl", ".parquet": "parquet"}


def format_of(path: Path) -> str | None:
    return SUFFIXES.get(path.suffix.lower())


def module(fmt: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{fmt}")
