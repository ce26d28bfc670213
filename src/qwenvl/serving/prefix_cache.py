"""Keys and values of recent prompts, so that a prompt starting like an earlier one prefills only the rest.

Chat clients resend the whole conversation every turn, and requests about the same picture share
the system prompt and the picture's span, so long prefixes repeat. An entry is one prefilled
prompt: its ids, the image of each `<img>` span, its dynamic-NTK factor and its keys/values. A
new prompt reuses the longest common prefix with any entry, cut so that it never ends inside an
image span and every span in it holds the same image (the ids inside spans are labels, not the
picture), and only where the NTK factors agree: cached keys were rotated with the factor of
their own prompt, and a prompt's factor depends on its full length.

Entries are kept least recently used first out, within a byte budget.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

from ..model.kv_cache import KVCache

Span = tuple[int, int, str]  # start (the <img> position), end (one past </img>), image key


@dataclass
class Entry:
    ids: torch.Tensor  # (n,) long
    spans: dict[int, Span]  # by start
    alpha: float
    kv: KVCache  # one row, exactly n tokens

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.kv.k + self.kv.v)


class PrefixCache:
    def __init__(self, max_bytes: int, min_tokens: int = 32):
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens  # shorter common prefixes are not worth a copy
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._bytes = 0
        self._next = 0
        self.reused_tokens = 0

    def longest(self, ids: list[int], spans: list[Span], alpha: float) -> tuple[Entry | None, int]:
        """The entry sharing the longest usable prefix with `ids`, and that prefix's length (< len(ids))."""
        query = torch.tensor(ids)
        best, best_len = None, 0
        for key, entry in self._entries.items():
            if entry.alpha != alpha:
                continue
            n = min(len(entry.ids), len(ids) - 1)  # at least one token is left to prefill
            differ = (entry.ids[:n] != query[:n]).nonzero()
            length = _outside_spans(int(differ[0]) if len(differ) else n, spans, entry.spans)
            if length > best_len:
                best, best_len = key, length
        if best is None or best_len < self.min_tokens:
            return None, 0
        self._entries.move_to_end(best)
        self.reused_tokens += best_len
        return self._entries[best], best_len

    def add(self, ids: list[int], spans: list[Span], alpha: float, kv: KVCache) -> None:
        entry = Entry(torch.tensor(ids), {s[0]: s for s in spans}, alpha, kv)
        if entry.nbytes > self.max_bytes:
            return
        self._entries[self._next] = entry
        self._next += 1
        self._bytes += entry.nbytes
        while self._bytes > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self._bytes -= old.nbytes


def _outside_spans(length: int, spans: list[Span], cached: dict[int, Span]) -> int:
    """`length` cut back to before the first span it enters that is not the same image in the entry."""
    for start, end, key in spans:
        if start >= length:
            break
        if end > length or cached.get(start) != (start, end, key):
            return start
    return length


def image_spans(ids: list[int], start_id: int, end_id: int, keys: list[str]) -> list[Span]:
    """The `<img>…</img>` spans of a prompt, paired in order with the keys of its images."""
    starts = [i for i, t in enumerate(ids) if t == start_id]
    ends = [i + 1 for i, t in enumerate(ids) if t == end_id]
    if not len(starts) == len(ends) == len(keys):
        raise ValueError(f"the prompt holds {len(starts)} image span(s) but {len(keys)} image(s) were given")
    return list(zip(starts, ends, keys))
