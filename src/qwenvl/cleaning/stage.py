"""Pass 1 for one shard: judge every pair by the per-pair rules, record the survivors.

Nothing is written to the cleaned output yet: global deduplication needs every shard's
survivors first. What this pass leaves (`_work/kept/<id>.jsonl`, then the `_work/staged`
marker) is small: keys and cleaned captions, no images.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from . import atomic, crash, gallery, stats
from .config import CleanConfig
from .formats import module
from .pipeline import Cleaner
from .shards import Shard
from .state import Layout


def stage_shard(shard: Shard, cfg: CleanConfig, layout: Layout,
                progress: Callable[[int], object] = lambda n: None) -> int:
    """Returns the number of pairs read."""
    cleaner = Cleaner(cfg)
    counts: stats.Counts = {}
    picked: gallery.Gallery = {}
    problems: list[str] = []
    kept_path = layout.kept(shard)
    tmp = atomic.partial_path(kept_path)
    kept_path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(tmp, "w", encoding="ascii") as out:
        for pos, sample in enumerate(module(shard.fmt).read(shard.path, cfg, problems)):
            source = sample.source(cfg.input.source_field) or shard.source
            stats.add_pair(counts, source)
            verdict = cleaner(sample, source)
            if verdict.rule:
                stats.add_drop(counts, source, verdict.rule)
                gallery.offer(picked, cfg, verdict.rule, verdict.detail, sample, shard.rel,
                              verdict.caption, verdict.image)
            else:
                if verdict.clip_unscored:
                    stats.add_not_applied(counts, source, "clip_score")
                out.write(json.dumps([pos, sample.key, source, verdict.exact_key, verdict.dhash,
                                      verdict.caption]) + "\n")
            n += 1
            progress(1)
        out.flush()
        os.fsync(out.fileno())
    crash.point("stage", "partial")
    os.replace(tmp, kept_path)
    crash.point("stage", "published")
    atomic.write_json(layout.staged(shard), {"shard": shard.rel, "counts": counts,
                                             "gallery": picked, "problems": problems})
    crash.point("stage", "marked")
    return n
