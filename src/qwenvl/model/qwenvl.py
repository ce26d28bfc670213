"""The joined model: image features replace the 256 positions between `<img>` and `</img>`.

`QWenLMHeadModel` keeps the official module tree (`transformer.{wte,h,ln_f,visual}`,
`lm_head`) so a released state dict loads as is.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..config import QwenVLConfig
from .kv_cache import KVCache
from .layout import Linear, linear
from .language import QWenBlock, RMSNorm, logn_scale, ntk_alpha, rotary_tables
from .vision import VisionTransformer


def image_positions(input_ids: torch.Tensor, start_id: int, n_queries: int) -> torch.Tensor:
    """Boolean (B, T) mask of the positions strictly inside each `<img>…</img>` span."""
    is_start, is_end = input_ids == start_id, input_ids == start_id + 1
    depth = is_start.long().cumsum(1) - is_end.long().cumsum(1)
    inside = (depth > 0) & ~is_start
    starts, ends = int(is_start.sum()), int(is_end.sum())
    if starts != ends or bool((depth < 0).any()) or bool((depth > 1).any()):
        raise ValueError("input_ids have unbalanced <img> / </img> tokens")
    if int(inside.sum()) != starts * n_queries:
        raise ValueError(f"each <img>…</img> span must hold exactly {n_queries} positions")
    return inside


def output_rows(select: torch.Tensor, b: int, t: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, kept) for a bool (B, T) `select`: (B, K) the selected positions of each row in order,
    padded with other positions up to the longest row's count K, and (B, K) which of them are real."""
    if select.shape != (b, t):
        raise ValueError(f"select has shape {tuple(select.shape)}, the ids ({b}, {t})")
    counts = select.sum(1)
    k = max(int(counts.max()), 1) if b else 1
    rows = torch.sort((~select).to(torch.uint8), dim=1, stable=True).indices[:, :k].to(device)
    return rows, torch.arange(k, device=device) < counts[:, None].to(device)


class QWenModel(nn.Module):
    def __init__(self, cfg: QwenVLConfig):
        super().__init__()
        self.cfg = cfg
        llm = cfg.llm
        self.wte = nn.Embedding(llm.vocab_size, llm.hidden_size)
        self.drop = nn.Dropout(llm.emb_dropout_prob)
        self.h = nn.ModuleList(QWenBlock(llm) for _ in range(llm.num_hidden_layers))
        self.ln_f = RMSNorm(llm.hidden_size, llm.layer_norm_epsilon)
        self.visual = VisionTransformer(cfg.vision, cfg.adapter)
        self.gradient_checkpointing = False

    def embed(self, input_ids: torch.Tensor, image_features: torch.Tensor | None,
              decoding: bool = False) -> torch.Tensor:
        """Token embeddings with `image_features` in the image spans. While `decoding` (a cache
        filled, no pictures given) ids are plain tokens, as in the official model after its first
        forward: a generated `<img>` opens no span and must not fail the step."""
        x = self.drop(self.wte(input_ids))
        if decoding:
            return x
        inside = image_positions(input_ids, self.cfg.vision.image_start_id, self.cfg.adapter.n_queries)
        n_spans = int(inside.sum()) // self.cfg.adapter.n_queries
        n_given = 0 if image_features is None else image_features.shape[0]
        if n_spans != n_given:
            raise ValueError(f"input_ids hold {n_spans} image span(s) but {n_given} image(s) were given")
        if n_spans:
            x = x.masked_scatter(inside[..., None], image_features.to(x.dtype))
        return x

    def forward(
        self,
        input_ids: torch.Tensor,
        image_features: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        last_only: bool = False,
        select: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states (B, T, hidden) after `ln_f`. The last block computes its attention output and
        MLP only for the positions asked for: with `last_only` the last one, giving (B, 1, hidden) (a
        prefill needs no more); with a bool (B, T) `select` the True ones, giving (N, hidden) in
        row-major order (a loss needs no more). Every position's k and v still reach the cache.

        positions: (B, T) rotary positions, default counting on from the cache.
        attention_mask: bool (B, 1, T, keys) with True = may attend; None = causal, unpadded.
        """
        llm = self.cfg.llm
        b, t = input_ids.shape
        start = cache.length if cache is not None else 0
        if positions is None:
            positions = torch.arange(start, start + t, device=input_ids.device).expand(b, t)
        x = self.embed(input_ids, image_features, decoding=start > 0 and image_features is None)
        alphas = self._ntk_alphas(positions, cache, start)
        rope = rotary_tables(positions, llm.rotary_dim, llm.rotary_emb_base, alphas)
        logn = logn_scale(positions, llm.seq_length) if llm.use_logn_attn and not self.training else None
        rows, kept = output_rows(select, b, t, input_ids.device) if select is not None else (None, None)
        if last_only:
            rows = torch.full((b, 1), t - 1, device=input_ids.device)
        for i, block in enumerate(self.h):
            last = rows if i == len(self.h) - 1 else None
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, rope, logn, attention_mask, None, i, last,
                                                      use_reentrant=False)
            else:
                x = block(x, rope, logn, attention_mask, cache, i, last)
        if cache is not None:
            cache.advance(t)
        x = self.ln_f(x)
        return x if kept is None else x[kept]


    def _ntk_alphas(self, positions: torch.Tensor, cache: KVCache | None, start: int) -> Sequence[float]:
        """NTK factors: chosen at prefill from each prompt's length, then kept (official behaviour)."""
        llm = self.cfg.llm
        if self.training or not llm.use_dynamic_ntk:
            return [1.0] * positions.shape[0]
        if cache is not None and start > 0:
            return cache.ntk_alphas
        alphas = [ntk_alpha(int(p) + 1, llm.seq_length) for p in positions[:, -1].tolist()]
        if cache is not None:
            cache.ntk_alphas = alphas
        return alphas


class QWenLMHeadModel(nn.Module):
    def __init__(self, cfg: QwenVLConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer = QWenModel(cfg)
        self.lm_head = Linear(cfg.llm.hidden_size, cfg.llm.vocab_size, bias=False)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) preprocessed pixels → (N, n_queries, hidden) features."""
        return self.transformer.visual(pixels)

    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        last_only: bool = False,
        select: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, T, vocab); (B, 1, vocab) with `last_only` (what decoding needs); (N, vocab) at the
        N True positions of a bool (B, T) `select` (what training needs: the vocabulary projection of
        unsupervised positions, such as image spans, is skipped)."""
        if pixel_values is not None:
            if image_features is not None:
                raise ValueError("give pixel_values or image_features, not both")
            image_features = self.encode_images(pixel_values)
        return self.logits(self.transformer(input_ids, image_features, positions, attention_mask, cache, last_only,
                                            select))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """`lm_head(hidden)`; decoding streams the whole (vocab, hidden) matrix per step, so a few rows
        go through the fastest GEMM form for this CPU (`layout.linear`)."""
        return linear(hidden, self.lm_head.weight)

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        llm = self.cfg.llm
        w = self.lm_head.weight
        return KVCache.allocate(llm.num_hidden_layers, batch, llm.num_attention_heads, capacity,
                                llm.head_dim, w.dtype, w.device)
