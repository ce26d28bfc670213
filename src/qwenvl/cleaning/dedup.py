"""Corpus-wide duplicate decisions, made deterministically between the two passes.

Pass 1 writes, per shard, the keys of the pairs that survived every other rule. Once all
shards are staged, every rank replays those files in corpus order (shard order, then position)
and keeps the first occurrence of each key; later ones are `duplicate` / `near_duplicate`.
Since the replay reads only finished files in a fixed order, the decision is the same for any
number of ranks or workers and for any crash/restart history. The cost is that each rank holds
the set of surviving keys in memory (about 100 bytes per pair, so ~10^8 pairs per machine);
beyond that the replay would be partitioned by key hash.
"""

from __future__ import annotations

import json

from .config import CleanConfig
from .shards import Shard
from .state import Layout

Duplicates = dict[int, tuple[str, str]]  # position in shard -> (rule, detail)


class HammingIndex:
    """Finds an earlier 64-bit hash within `radius` bits without comparing against all of them.

    The hash is cut into radius + 1 bands; two hashes differing in at most `radius` bits agree
    exactly on at least one band (pigeonhole), so only same-band candidates are compared.
    """

    def __init__(self, radius: int):
        self.radius = radius
        edges = [round(i * 64 / (radius + 1)) for i in range(radius + 2)]
        self.bands = list(zip(edges[:-1], edges[1:]))
        self.tables: list[dict[int, list[tuple[int, int]]]] = [{} for _ in self.bands]

    def _band_values(self, h: int):
        for table, (lo, hi) in zip(self.tables, self.bands):
            yield table, (h >> lo) & ((1 << (hi - lo)) - 1)

    def find(self, h: int) -> int | None:
        for table, value in self._band_values(h):
            for other, label in table.get(value, ()):
                if (h ^ other).bit_count() <= self.radius:
                    return label
        return None

    def add(self, h: int, label: int) -> None:
        for table, value in self._band_values(h):
            table.setdefault(value, []).append((h, label))


def find_duplicates(shards: list[Shard], layout: Layout, cfg: CleanConfig,
                    wanted: set[str]) -> dict[str, Duplicates]:
    """Replay all shards' survivors in corpus order; return the drops for the `wanted` shard ids."""
    seen: dict[bytes, int] = {}
    near = HammingIndex(cfg.dedup.max_hamming) if cfg.dedup.near_duplicate else None
    result: dict[str, Duplicates] = {s.id: {} for s in shards if s.id in wanted}
    for shard in shards:
        drops = result.get(shard.id)
        with open(layout.kept(shard), encoding="utf-8") as f:
            for line in f:
                pos, _key, _source, exact, dh, _caption = json.loads(line)
                label = (shard.index << 32) | pos
                digest = bytes.fromhex(exact) if exact else None
                if digest is not None and digest in seen:
                    if drops is not None:
                        drops[pos] = ("duplicate", f"same as {_describe(seen[digest], shards)}")
                    continue
                if near is not None:
                    match = near.find(dh)
                    if match is not None:
                        if drops is not None:
                            drops[pos] = ("near_duplicate", f"image like {_describe(match, shards)}")
                        continue
                    near.add(dh, label)
                if digest is not None:
                    seen[digest] = label
    return result


def _describe(label: int, shards: list[Shard]) -> str:
    return f"pair #{label & 0xFFFFFFFF} of {shards[label >> 32].rel}"
