"""The position-aware vision-language adapter (`transformer.visual.attn_pool`).

One cross-attention layer: a fixed set of learned queries attends over the ViT's patch
features, compressing any grid to `n_queries` vectors of the LLM's width. Both sides carry
2D sin-cos positions so the compression keeps where things are.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

from ..config import AdapterConfig
from .layout import Linear


def sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """(N,) positions → (N, dim) [sin | cos] embedding in float32, like the official NumPy code."""
    omega = torch.arange(dim // 2, dtype=torch.float32) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = pos.reshape(-1).float()[:, None] * omega[None, :]
    return torch.cat([out.sin(), out.cos()], dim=1)


def sincos_2d(dim: int, grid: int) -> torch.Tensor:
    """(grid², dim) table: first half encodes the column, second half the row (official order)."""
    coords = torch.arange(grid, dtype=torch.float32)
    col, row = torch.meshgrid(coords, coords, indexing="xy")  # col varies along each row
    return torch.cat([sincos_1d(dim // 2, col), sincos_1d(dim // 2, row)], dim=1)


def resize_grid(table: torch.Tensor, length: int) -> torch.Tensor:
    """Bicubically resize a (side², C) position table to (length, C), as the official `get_abs_pos`."""
    src, tgt = int(table.shape[0] ** 0.5), int(length ** 0.5)
    if src == tgt:
        return table
    grid = table.float().reshape(1, src, src, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(tgt, tgt), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).flatten(0, 2).to(table.dtype)


class ResizedGrid:
    """`resize_grid` of one table, kept while the table is unchanged: at inference every image
    would otherwise pay the bicubic resize again (~8 ms for the two tables at 448 px).
    With gradients on, the resize is recomputed so that it stays in the graph."""

    def __init__(self):
        self._table, self._key, self._value = None, None, None

    def __call__(self, table: torch.Tensor, length: int) -> torch.Tensor:
        if torch.is_grad_enabled() and table.requires_grad:
            return resize_grid(table, length)
        key = (table._version, table.data_ptr(), length)
        if self._table is None or self._table() is not table or key != self._key:
            self._table, self._key, self._value = weakref.ref(table), key, resize_grid(table, length)
        return self._value


class Resampler(nn.Module):
    def __init__(self, cfg: AdapterConfig, kv_dim: int):
        super().__init__()
        dim = cfg.output_dim
        self.pos_embed = nn.Parameter(sincos_2d(dim, cfg.grid), requires_grad=False)
        self.query = nn.Parameter(torch.zeros(cfg.n_queries, dim))
        self.kv_proj = Linear(kv_dim, dim, bias=False) if kv_dim != dim else nn.Identity()
        self.attn = nn.MultiheadAttention(dim, cfg.heads, batch_first=True)
        self.ln_q = nn.LayerNorm(dim, eps=1e-6)
        self.ln_kv = nn.LayerNorm(dim, eps=1e-6)
        self._key_pos = ResizedGrid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, kv_dim) patch features → (B, n_queries, dim)."""
        key_pos = self._key_pos(self.pos_embed, x.shape[1])
        x = self.ln_kv(self.kv_proj(x))
        q = (self.ln_q(self.query) + self.pos_embed).expand(x.shape[0], -1, -1)
        return self.attn(q, x + key_pos, x, need_weights=False)[0]
