"""Pass 2 for one shard: write the survivors that are not duplicates, then mark the shard done.

The input is read again (reading is deterministic) and each pair is matched to its pass-1
verdict by position; images are copied as-is, never decoded again except for gallery samples.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from . import atomic, crash, gallery, stats
from .config import CleanConfig
from .dedup import Duplicates
from .errors import CleaningError
from .formats import module
from .shards import Shard
from .state import Layout


def finish_shard(shard: Shard, cfg: CleanConfig, layout: Layout, duplicates: Duplicates,
                 progress: Callable[[int], object] = lambda n: None) -> int:
    """Returns the number of pairs written."""
    staged = atomic.read_json(layout.staged(shard))
    counts, picked = staged["counts"], staged["gallery"]
    kept: dict[int, tuple[str, str, str]] = {}
    with open(layout.kept(shard), encoding="ascii") as f:
        for line in f:
            pos, key, source, _exact, _dhash, caption = json.loads(line)
            kept[pos] = (key, source, caption)
    fmt = module(shard.fmt)
    writer = fmt.Writer(layout.output(shard), cfg, shard.path)
    last = -1
    for last, sample in enumerate(fmt.read(shard.path, cfg, [])):
        progress(1)
        if last not in kept:
            continue
        key, source, caption = kept[last]
        if sample.key != key:
            raise CleaningError(f"{shard.path} changed since pass 1 (pair {last} is {sample.key!r}, "
                                f"was {key!r}); clean it into a new --output folder")
        if last in duplicates:
            rule, detail = duplicates[last]
            stats.add_drop(counts, source, rule)
            gallery.offer(picked, cfg, rule, detail, sample, shard.rel, caption, None)
            continue
        writer.write(sample, caption)
    if kept and max(kept) > last:
        raise CleaningError(f"{shard.path} is shorter than in pass 1; clean it into a new --output folder")
    writer.close()
    crash.point("write", "partial")
    writer.commit()
    crash.point("write", "published")
    atomic.write_json(layout.done(shard), {"shard": shard.rel, "counts": counts, "gallery": picked,
                                           "problems": staged["problems"], "written": writer.count})
    crash.point("write", "marked")
    return writer.count
