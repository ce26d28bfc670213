"""Image features kept by content: a picture sent again (another turn, another client) skips the vision tower.

Filled and read by the engine thread only, so it needs no lock; other threads may only ask
whether a key is held (a hint: the entry may be gone by the time it is used). Entries are (n_queries, hidden) tensors;
the least recently used one leaves first once `capacity` entries are held.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import torch


class FeatureCache:
    def __init__(self, capacity: int):
        if capacity < 0:
            raise ValueError(f"feature cache capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        """Whether features are held for `key` (other threads may ask: a dict lookup is atomic)."""
        return key in self._entries

    def features(self, keys: Sequence[str], pixels: Sequence[Callable[[], torch.Tensor]],
                 encode: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """(N, n_queries, hidden) for the images `keys`; the missing ones are encoded together.

        pixels[i]() gives image i's preprocessed pixels; it is called only for missing images.
        """
        missing = list(dict.fromkeys(k for k in keys if k not in self._entries))
        self.misses += len(missing)  # images encoded
        self.hits += len(keys) - len(missing)
        found = {k: self._entries[k] for k in keys if k in self._entries}
        if missing:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            encoded = encode(torch.stack([pixels[first[k]]() for k in missing]))
            found.update(zip(missing, encoded))
        for k in keys:
            self._store(k, found[k])
        return torch.stack([found[k] for k in keys])

    def _store(self, key: str, value: torch.Tensor) -> None:
        if self.capacity == 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
