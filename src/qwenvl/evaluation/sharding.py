"""Splitting a run over processes: the rank and world size torchrun sets, and which items are whose.

Every rank reads the same items in the same order and takes every `world`-th one, so each item
is handled by exactly one rank. Ranks share nothing but the output folder: rank 0 waits until
every item has a prediction there, then scores; the others exit when their share is done.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tqdm import tqdm

POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1

    def __post_init__(self):
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} is not in a world of {self.world} process(es)")

    @classmethod
    def from_env(cls) -> Shard:
        """RANK and WORLD_SIZE as torchrun sets them; one process when unset."""
        rank, world = os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1")
        if not (rank.isdigit() and world.isdigit()):
            raise ValueError(f"RANK={rank!r} and WORLD_SIZE={world!r} must be integers")
        return cls(int(rank), int(world))

    def select(self, items: Sequence) -> list:
        return list(items[self.rank::self.world])


def wait_for(ids: set[str], load: Callable[[], dict], poll_seconds: float = POLL_SECONDS) -> dict:
    """`load()` once it covers every id: the other ranks' predictions arrive in their files."""
    rows = load()
    missing = ids - rows.keys()
    if not missing:
        return rows
    with tqdm(total=len(ids), initial=len(ids) - len(missing), desc="waiting for other ranks", unit="item") as bar:
        while missing:
            time.sleep(poll_seconds)
            rows = load()
            now = ids - rows.keys()
            bar.update(len(missing) - len(now))
            missing = now
    return rows
