"""A pre-allocated key/value cache written in place at the current slot.

All sequences of a batch share slot indices (left padding keeps them aligned), so one
`length` counter describes the cache; per-sequence positions and masks live with the caller.
The dynamic-NTK factors chosen at prefill are kept here because decode steps must reuse them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class KVCache:
    k: list[torch.Tensor]  # per layer: (B, heads, capacity, head_dim)
    v: list[torch.Tensor]
    length: int = 0
    ntk_alphas: list[float] = field(default_factory=list)

    @classmethod
    def allocate(cls, layers: int, batch: int, heads: int, capacity: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device | str = "cpu") -> "KVCache":
        shape = (batch, heads, capacity, head_dim)
        return cls(k=[torch.empty(shape, dtype=dtype, device=device) for _ in range(layers)],
                   v=[torch.empty(shape, dtype=dtype, device=device) for _ in range(layers)])

    @property
    def capacity(self) -> int:
        return self.k[0].shape[2]

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store (B, H, T, D) at the current slots; return keys and values of all filled slots."""
        end = self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache full: {end} tokens needed, capacity {self.capacity}")
        self.k[layer][:, :, self.length:end] = k
        self.v[layer][:, :, self.length:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def advance(self, n: int) -> None:
        self.length += n

    def keep(self, rows: torch.Tensor) -> None:
        """Drop finished sequences (keep batch `rows`) so later steps do less work."""
        self.k = [t[rows] for t in self.k]
        self.v = [t[rows] for t in self.v]
        self.ntk_alphas = [self.ntk_alphas[i] for i in rows.tolist()]
