"""Find input shards, name their outputs, and assign each to exactly one worker.

The sorted list of absolute shard paths is the corpus order: shard i goes to rank
i % world_size, and "first occurrence" for deduplication means first in this order, so every
rank and every restart agrees on it without talking to each other.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .config import InputRules
from .errors import CleaningError
from .formats import SUFFIXES, format_of


@dataclass(frozen=True)
class Shard:
    index: int   # position in the corpus order
    path: Path   # absolute input path
    rel: str     # output path under --output (posix), mirroring the input layout
    fmt: str
    source: str  # default source for its pairs (metadata may name another)

    @property
    def id(self) -> str:
        """File-name-safe unique name (the escaped output path), for markers and work files."""
        return quote(self.rel, safe="")


def discover(inputs: list[str]) -> list[Path]:
    """Files as given, folders searched recursively for known suffixes; sorted and unique."""
    found: set[Path] = set()
    for item in inputs:
        path = Path(item).resolve()
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and format_of(p))
        elif path.is_file():
            if not format_of(path):
                raise CleaningError(f"{item}: unsupported shard type; expected one of {sorted(SUFFIXES)}")
            found.add(path)
        else:
            raise CleaningError(f"input {item} does not exist")
    if not found:
        raise CleaningError(f"no {'/'.join(sorted(SUFFIXES))} shards found in {inputs}")
    return sorted(found, key=lambda p: p.as_posix())


def plan(paths: list[Path], rules: InputRules) -> list[Shard]:
    root = Path(os.path.commonpath([p.parent for p in paths]))
    return [Shard(i, p, p.relative_to(root).as_posix(), format_of(p), shard_source(p, rules))
            for i, p in enumerate(paths)]


def shard_source(path: Path, rules: InputRules) -> str:
    for pattern, name in rules.sources.items():
        if fnmatch.fnmatch(path.as_posix(), pattern):
            return name
    return path.parent.name or "default"


def assigned(shards: list[Shard], rank: int, world_size: int) -> list[Shard]:
    return [s for s in shards if s.index % world_size == rank]
