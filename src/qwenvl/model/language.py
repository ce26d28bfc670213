"""Qwen decoder blocks (`transformer.h.N`): RMSNorm, fused qkv attention with rotary, SwiGLU.

Inference-time long-context tricks of the official release live here as small functions:
dynamic NTK (a larger rotary base, chosen once from the prompt length) and log-n query
scaling beyond `seq_length`. Training uses neither, exactly like the official code.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import LLMConfig
from .attention import attention
from .kv_cache import KVCache
from .layout import Linear


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def ntk_alpha(length: int, seq_length: int) -> float:
    """Dynamic-NTK factor for a prompt of `length` tokens (1 when it fits in `seq_length`)."""
    context = math.log(length / seq_length, 2) + 1
    return max(2 ** math.ceil(context) - 1, 1)


@functools.lru_cache(maxsize=64)
def _inv_freq(dim: int, base: float, alpha: float) -> torch.Tensor:
    scaled = base * alpha ** (dim / (dim - 2))
    return 1.0 / (scaled ** (torch.arange(0, dim, 2).float() / dim))


def rotary_tables(positions: torch.Tensor, dim: int, base: float, alphas: Sequence[float]):
    """cos, sin of shape (B, T, 1, 1, dim) for per-sequence positions (B, T) and NTK factors (B,)."""
    inv = torch.stack([_inv_freq(dim, base, a) for a in alphas]).to(positions.device)  # (B, dim/2)
    freqs = positions.float()[:, :, None] * inv[:, None, :]
    emb = torch.cat([freqs, freqs], dim=-1)[:, :, None, None, :]
    return emb.cos(), emb.sin()


def apply_rotary(t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first `rotary_dim` channels of (B, T, …, D) in float32, as the official code."""
    rot = cos.shape[-1]
    whole = rot == t.shape[-1]
    x = t.float() if whole else t[..., :rot].float()
    x1, x2 = x.chunk(2, dim=-1)
    x = (x * cos + torch.cat([-x2, x1], dim=-1) * sin).type_as(t)
    return x if whole else torch.cat([x, t[..., rot:]], dim=-1)


def logn_scale(positions: torch.Tensor, seq_length: int) -> torch.Tensor | None:
    """Per-position query factor log(p+1)/log(seq_length) beyond the trained length; None if all 1."""
    p = positions.double() + 1
    if not bool((p > seq_length).any()):
        return None
    return torch.where(p > seq_length, p.log() / math.log(seq_length), torch.ones_like(p)).float()


class QWenAttention(nn.Module):
    def __init__(self, cfg: LLMConfig):
        super().__init__()
        self.cfg = cfg
        proj = cfg.kv_channels * cfg.num_attention_heads
        self.c_attn = Linear(cfg.hidden_size, 3 * proj)
        self.c_proj = Linear(proj, cfg.hidden_size, bias=not cfg.no_bias)

    def forward(self, x, rope, logn, mask, cache: KVCache | None, layer: int, rows: torch.Tensor | None = None):
        """With `rows` ((B, K) positions), every position's k and v reach the cache but only those rows
        attend, and the output is theirs alone."""
        b, t, _ = x.shape
        h, d = self.cfg.num_attention_heads, self.cfg.head_dim
        qkv = self.c_attn(x).view(b, t, 3, h, d)
        q, k = apply_rotary(qkv[:, :, :2], *rope).unbind(2)  # q and k rotated together: (B, T, H, D)
        v = qkv[:, :, 2]
        if logn is not None:
            q = q * logn[:, :, None, None].to(q.dtype)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # (B, H, T, D)
        if cache is not None:
            k, v = cache.write(layer, k, v)
        drop = self.cfg.attn_dropout_prob if self.training else 0.0
        if rows is not None:
            at = rows[:, None, :, None]  # (B, 1, K, 1)
            q = q.gather(2, at.expand(b, h, -1, d))
            if mask is None:  # causal: a row at position p (after the cache's earlier keys) sees keys up to it
                keys = k.shape[2]
                mask = at + (keys - t) >= torch.arange(keys, device=x.device)
            else:
                mask = mask.expand(b, -1, -1, -1).gather(2, at.expand(-1, mask.shape[1], -1, mask.shape[-1]))
            t = rows.shape[1]
        if mask is None:  # plain causal over exactly these tokens, or one new token over all cached
            out = attention(q, k, v, causal=t > 1, dropout=drop)
        else:
            out = attention(q, k, v, mask, dropout=drop)
        return self.c_proj(out.transpose(1, 2).reshape(b, t, h * d))


class QWenMLP(nn.Module):
    def __init__(self, cfg: LLMConfig):
        super().__init__()
        ff = cfg.intermediate_size // 2
        self.w1 = Linear(cfg.hidden_size, ff, bias=not cfg.no_bias)
        self.w2 = Linear(cfg.hidden_size, ff, bias=not cfg.no_bias)
        self.c_proj = Linear(ff, cfg.hidden_size, bias=not cfg.no_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.w1(x) * F.silu(self.w2(x)))


class QWenBlock(nn.Module):
    def __init__(self, cfg: LLMConfig):
        super().__init__()
        self.ln_1 = RMSNorm(cfg.hidden_size, cfg.layer_norm_epsilon)
        self.attn = QWenAttention(cfg)
        self.ln_2 = RMSNorm(cfg.hidden_size, cfg.layer_norm_epsilon)
        self.mlp = QWenMLP(cfg)

    def forward(self, x, rope, logn, mask, cache, layer, rows: torch.Tensor | None = None):
        """With `rows` ((B, K) positions), the output is those positions' alone: the last block needs
        no more for a prefill (the last position) or a loss (the supervised ones)."""
        residual = x if rows is None else x.gather(1, rows[..., None].expand(-1, -1, x.shape[-1]))
        x = residual + self.attn(self.ln_1(x), rope, logn, mask, cache, layer, rows)
        return x + self.mlp(self.ln_2(x))
