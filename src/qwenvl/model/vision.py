"""The ViT visual encoder (`transformer.visual`), OpenCLIP layout with Qwen-VL's names.

The learned position table is a 16×16 grid; other resolutions interpolate it bicubically on
the fly, which is how the same weights serve 224 px (stage 1) and 448 px (stages 2-3).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import AdapterConfig, VisionConfig
from .adapter import Resampler, ResizedGrid
from .attention import attention
from .layout import Linear


class VisualAttention(nn.Module):
    """Self-attention whose fused `in_proj` is laid out per head as [q|k|v] (Megatron style)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj = Linear(width, 3 * width)
        self.out_proj = Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        qkv = self.in_proj(x).view(b, n, self.heads, 3, w // self.heads)
        q, k, v = qkv.permute(3, 0, 2, 1, 4)  # each (B, heads, N, head_dim)
        out = attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, w))


class VisualBlock(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.width, eps=1e-6)
        self.attn = VisualAttention(cfg.width, cfg.heads)
        self.ln_2 = nn.LayerNorm(cfg.width, eps=1e-6)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", Linear(cfg.width, cfg.mlp_width))
        self.mlp.add_module("gelu", nn.GELU())
        self.mlp.add_module("c_proj", Linear(cfg.mlp_width, cfg.width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class VisualTransformer(nn.Module):
    """Holds `resblocks` so parameter names read `visual.transformer.resblocks.N…`."""

    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.resblocks = nn.ModuleList(VisualBlock(cfg) for _ in range(cfg.layers))
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, cfg: VisionConfig, adapter: AdapterConfig):
        super().__init__()
        self.cfg = cfg
        self.conv1 = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.positional_embedding = nn.Parameter(cfg.width ** -0.5 * torch.randn(256, cfg.width))
        self.ln_pre = nn.LayerNorm(cfg.width, eps=1e-6)
        self.transformer = VisualTransformer(cfg)
        self.attn_pool = Resampler(adapter, kv_dim=cfg.width)
        self.ln_post = nn.LayerNorm(adapter.output_dim, eps=1e-6)
        self.proj = nn.Parameter(adapter.output_dim ** -0.5 * torch.randn(adapter.output_dim, adapter.output_dim))
        self._positions = ResizedGrid()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) normalised pixels → (B, n_queries, LLM hidden) image features."""
        return self.pool(self.patches(pixels))

    def patches(self, pixels: torch.Tensor) -> torch.Tensor:
        """The ViT trunk alone: (B, 3, S, S) → (B, grid², width) patch tokens, before the adapter."""
        x = self.conv1(pixels.to(self.conv1.weight.dtype))
        x = x.flatten(2).transpose(1, 2)  # (B, grid², width)
        x = x + self._positions(self.positional_embedding, x.shape[1])
        return self.transformer(self.ln_pre(x))

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """The adapter: (B, grid², width) patch tokens → (B, n_queries, LLM hidden) image features."""
        return self.ln_post(self.attn_pool(tokens)) @ self.proj
