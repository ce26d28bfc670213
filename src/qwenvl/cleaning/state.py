"""The output folder's bookkeeping: where markers and work files live, and the run identity.

A shard is finished exactly when `_done/<id>.json` exists. The marker is written (atomically)
only after the cleaned shard has been renamed into place, so a crash at any moment leaves
either a finished shard or one that the next run redoes from scratch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from . import atomic
from .errors import CleaningError
from .shards import Shard


@dataclass(frozen=True)
class Layout:
    root: Path

    def output(self, shard: Shard) -> Path:
        return self.root / shard.rel

    def done(self, shard: Shard) -> Path:
        return self.root / "_done" / f"{shard.id}.json"

    def staged(self, shard: Shard) -> Path:
        """Pass-1 marker: per-rule counts and gallery samples, written after `kept`."""
        return self.root / "_work" / "staged" / f"{shard.id}.json"

    def kept(self, shard: Shard) -> Path:
        """Pass-1 survivors as JSON lines: [position, key, source, exact key, dhash, caption]."""
        return self.root / "_work" / "kept" / f"{shard.id}.jsonl"

    @property
    def run_file(self) -> Path:
        return self.root / "_run.json"

    @property
    def stats_json(self) -> Path:
        return self.root / "clean_stats.json"

    @property
    def stats_md(self) -> Path:
        return self.root / "clean_stats.md"

    @property
    def gallery(self) -> Path:
        return self.root / "clean_gallery.html"


def claim_run(layout: Layout, config_fp: str, shards: list[Shard]) -> None:
    """Record (or check) which config and shard list this output folder belongs to.

    Dedup order and thresholds must not change between a run and its restart; a mismatch is
    an error rather than a silently mixed output.
    """
    identity = {"config": config_fp, "shards": [s.path.as_posix() for s in shards]}
    if layout.run_file.exists():
        previous = atomic.read_json(layout.run_file)
        if previous != identity:
            what = "config" if previous.get("config") != config_fp else "input shard list"
            raise CleaningError(f"{layout.root} holds a run with a different {what}; "
                                "use a new --output folder (or delete this one) to start over")
        return
    atomic.write_json(layout.run_file, identity)


def wait_for(paths: list[Path], timeout: float, what: str, poll: float = 0.5) -> None:
    """Block until every path exists: the barrier between ranks, through the shared folder."""
    deadline = time.monotonic() + timeout
    missing = [p for p in paths if not p.exists()]
    while missing:
        if time.monotonic() > deadline:
            names = ", ".join(p.name for p in missing[:5])
            raise CleaningError(f"timed out after {timeout:.0f}s waiting for {len(missing)} {what} "
                                f"({names}{', ...' if len(missing) > 5 else ''}); is every rank running?")
        time.sleep(poll)
        missing = [p for p in missing if not p.exists()]
