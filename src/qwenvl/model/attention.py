"""Scaled dot-product attention in the fastest exact form for this CPU and dtype.

PyTorch's fused CPU kernel is right for float32, but in bfloat16 on a CPU without AMX it ran 1.6×
slower than matmul-softmax-matmul for the ViT's 1024 patches and 5× slower for a batch of 8
decoding queries; with gradients, forward and backward over a masked training batch took 84 ms
against 50 ms (benchmarks/RESULTS.md). The explicit form is the official implementation's own.
Which form bfloat16 uses is timed once per process and per mode (inference, training) on a probe,
so a CPU whose fused kernel wins keeps it.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .layout import best_times

# With gradients the explicit form keeps its (B, H, T, keys) probabilities for the backward pass,
# which the fused kernel never materialises: beyond this many (128 MB in bfloat16 a layer) the
# fused kernel is taken whatever the timing, so long sequences cannot exhaust memory.
MAX_TRAINING_SCORES = 1 << 26
# Without gradients, scores of more than SCORES_IN_CACHE elements are made one batch item at a time, and
# QUERY_BLOCK queries at a time where an item's are too many still: the ViT's 6 heads × 256 queries ×
# 1024 keys in bfloat16 is 3 MB, which the caches hold through the softmax.
SCORES_IN_CACHE = 1 << 21
QUERY_BLOCK = 256


def explicit(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
             causal: bool = False) -> torch.Tensor:
    """softmax(q/√d kᵀ) v in the inputs' dtype, as the official code computes it (PyTorch's softmax
    accumulates in float32); `mask` bool (…, T, keys), True = may attend; `causal` aligned top-left
    as in SDPA. A finite fill keeps a row with no allowed key finite instead of NaN.

    Without gradients, scores too many for the caches are made an item and if need be `QUERY_BLOCK`
    queries at a time, so each block's stay in cache through the softmax: the ViT's 6 × 1024² scores
    in bfloat16 took 6.3 ms a layer this way against 12.9 ms whole (median, taken in turn, 2-core AMD
    EPYC), the same bits."""
    k, v = k.contiguous(), v.contiguous()  # batched matmul copies strided inputs slowly; the scaled q is new
    q = q * q.shape[-1] ** -0.5
    batch, t = q.shape[0], q.shape[-2]
    scores = q.shape[:-1].numel() * k.shape[-2]
    if scores <= SCORES_IN_CACHE or (torch.is_grad_enabled() and any(x.requires_grad for x in (q, k, v))):
        return _block(q, k, v, mask, causal, 0)
    rows = t if scores // batch <= SCORES_IN_CACHE else QUERY_BLOCK
    if mask is not None:  # a view with every item and every query, whatever it broadcast over
        mask = mask.reshape((1,) * (q.dim() - mask.dim()) + mask.shape).expand(batch, -1, t, -1)
    out = torch.empty(*q.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device)
    for b in range(batch):
        for i in range(0, t, rows):
            block = slice(i, i + rows)
            out[b, ..., block, :] = _block(q[b, ..., block, :], k[b], v[b], None if mask is None else mask[b, :, block],
                                           causal, i)
    return out


def _block(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool,
           first: int) -> torch.Tensor:
    """`explicit` for scaled queries `first`, `first` + 1, … of the sequence."""
    scores = q @ k.transpose(-1, -2)
    low = torch.finfo(scores.dtype).min
    if causal:
        scores.masked_fill_(torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).triu(1 + first), low)
    if mask is not None:
        scores.masked_fill_(~mask, low)
    return scores.softmax(-1) @ v


@functools.cache
def explicit_is_faster(dtype: torch.dtype, training: bool = False) -> bool:
    """Whether `explicit` beats the fused kernel by 10%: for inference on a ViT-sized probe (6 heads ×
    1024 × 64), for training forward and backward over a masked batch (4 × 4 heads × 256 × 64)."""
    shape = (4, 4, 256, 64) if training else (1, 6, 1024, 64)
    mask = torch.ones(256, 256, dtype=torch.bool).tril().expand(4, 1, 256, 256) if training else None
    q, k, v = (torch.full(shape, 0.01, dtype=dtype, requires_grad=training) for _ in range(3))

    def timed(form):
        def call():
            with torch.enable_grad():
                out = form(q, k, v, mask)
                if training:
                    out.sum().backward()
        return call

    def fused(q, k, v, mask):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    # The first call may come inside an activation-checkpointed forward, whose saved-tensor hooks would
    # count the probe's tensors and find them missing on recomputation; hooks of its own keep them apart.
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        times = best_times({"fused": timed(fused), "explicit": timed(explicit)}, rounds=3)
    return times["explicit"] < 0.9 * times["fused"]


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
              causal: bool = False, dropout: float = 0.0) -> torch.Tensor:
    """`F.scaled_dot_product_attention` over (B, H, T, D), or `explicit` for bfloat16 on a CPU where
    it is faster (for inference, or for training when any input needs gradients and the scores fit
    `MAX_TRAINING_SCORES`)."""
    if q.device.type == "cpu" and q.dtype == torch.bfloat16 and not dropout:
        training = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
        small = not training or q.shape[:-1].numel() * k.shape[-2] <= MAX_TRAINING_SCORES
        if small and explicit_is_faster(q.dtype, training):
            return explicit(q, k, v, mask, causal)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal)
