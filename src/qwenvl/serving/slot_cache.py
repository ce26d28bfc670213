"""The key/value cache of a running batch whose sequences join and leave between decode steps.

Row i of every tensor belongs to the i-th live sequence, which keeps its own tokens from slot 0
up to its own length: no left padding, so a sequence that joins late costs nothing extra. Live
rows stay packed at the front (a leaving row is replaced by the last one), so attention reads a
view `[:rows, :, :longest]` and never copies the cache. Each decode step writes one token per row
at that row's own slot, and `step_mask` hides the slots past each row's length.

It has the duck-typed interface the model's attention expects of a cache (`write`, `advance`,
`length`, `ntk_alphas`); the engine passes explicit per-row positions and `step_mask()`.
"""

from __future__ import annotations

import torch

from ..model.kv_cache import KVCache


class SlotCache:
    def __init__(self, layers: int, max_rows: int, heads: int, head_dim: int, max_capacity: int,
                 dtype: torch.dtype, device: torch.device | str = "cpu", initial_capacity: int = 512):
        self.max_rows = max_rows
        self.max_capacity = max_capacity
        self.shape = (max_rows, heads, min(initial_capacity, max_capacity), head_dim)
        self.k = [torch.zeros(self.shape, dtype=dtype, device=device) for _ in range(layers)]
        self.v = [torch.zeros(self.shape, dtype=dtype, device=device) for _ in range(layers)]
        self.lengths = torch.zeros(max_rows, dtype=torch.long, device=device)
        self.rows = 0
        self._alphas: list[float] = []

    @property
    def capacity(self) -> int:
        return self.k[0].shape[2]

    # ---- what the model reads -------------------------------------------------------------

    @property
    def length(self) -> int:
        """The longest live row; the model only checks it is > 0 (so NTK factors are kept)."""
        return int(self.lengths[:self.rows].max()) if self.rows else 0

    @property
    def ntk_alphas(self) -> list[float]:
        return self._alphas

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store one new token per row, (rows, H, 1, D), at each row's own slot; return the filled views."""
        if k.shape[0] != self.rows or k.shape[2] != 1:
            raise ValueError(f"a slot cache takes one token for each of its {self.rows} rows, got {tuple(k.shape)}")
        at = self.lengths[:self.rows]
        index = at.view(-1, 1, 1, 1).expand(k.shape)  # (rows, H, 1, D): each row's own slot
        # scatter_ into the live rows' view; an index_put over two advanced indices is ~100x slower here
        self.k[layer][:self.rows].scatter_(2, index, k)
        self.v[layer][:self.rows].scatter_(2, index, v)
        end = int(at.max()) + 1
        return self.k[layer][:self.rows, :, :end], self.v[layer][:self.rows, :, :end]

    def advance(self, n: int) -> None:
        self.lengths[:self.rows] += n

    # ---- what the engine does -------------------------------------------------------------

    def positions(self) -> torch.Tensor:
        """(rows, 1) rotary position of each row's next token: its length (prompts start at 0)."""
        return self.lengths[:self.rows, None].clone()

    def step_mask(self) -> torch.Tensor:
        """(rows, 1, 1, longest + 1): True on the slots a row's next token may attend to."""
        at = self.lengths[:self.rows]
        slots = torch.arange(int(at.max()) + 1, device=at.device)
        return (slots[None, :] <= at[:, None])[:, None, None, :]

    def reserve(self, length: int) -> None:
        """Make room for rows `length` tokens long, doubling the capacity (up to max_capacity)."""
        if length > self.max_capacity:
            raise ValueError(f"{length} tokens exceed the cache's max_capacity {self.max_capacity}")
        if length <= self.capacity:
            return
        new = self.capacity
        while new < length:
            new = min(2 * new, self.max_capacity)
        self.k = [_grown(t, new) for t in self.k]
        self.v = [_grown(t, new) for t in self.v]

    def add(self, prefill: KVCache, row: int = 0) -> int:
        """Copy row `row` of an unpadded prefill cache into a new live row; return its index."""
        if self.rows == self.max_rows:
            raise ValueError(f"slot cache full: {self.max_rows} rows")
        n = prefill.length
        self.reserve(n + 1)
        for mine, theirs in zip(self.k + self.v, prefill.k + prefill.v):
            mine[self.rows, :, :n] = theirs[row, :, :n]
        self.lengths[self.rows] = n
        self._alphas.append(prefill.ntk_alphas[row])
        self.rows += 1
        return self.rows - 1

    def remove(self, row: int) -> None:
        """Drop a live row; the last row moves into its place (the caller mirrors the move)."""
        last = self.rows - 1
        if row != last:
            n = int(self.lengths[last])
            for t in self.k + self.v:
                t[row, :, :n] = t[last, :, :n]
            self.lengths[row] = self.lengths[last]
            self._alphas[row] = self._alphas[last]
        self._alphas.pop()
        self.lengths[last] = 0
        self.rows = last


def _grown(t: torch.Tensor, capacity: int) -> torch.Tensor:
    out = t.new_zeros(t.shape[0], t.shape[1], capacity, t.shape[3])
    out[:, :, :t.shape[2]] = t
    return out
