"""The decode loop: batched prefill with left padding, then one token per step from the cache.

Each row keeps its own rotary positions (pads are not counted) and its own NTK factor, and
never attends to pads, so a prompt decoded in a batch gives what it gives alone. Finished
rows leave the batch, shrinking the cache, so later steps only pay for live sequences.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch

from .config import GenerationConfig
from .sampling import next_tokens, suppress


def padded_batch(prompts: Sequence[Sequence[int]], pad_id: int):
    """Left-pad prompts → ids (B, T), pad counts (B,), positions (B, T)."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    width = max(len(p) for p in prompts)
    pads = torch.tensor([width - len(p) for p in prompts])
    ids = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in prompts])
    positions = (torch.arange(width)[None, :] - pads[:, None]).clamp(min=0)
    return ids, pads, positions


def prefill_mask(pads: torch.Tensor, width: int) -> torch.Tensor | None:
    """(B, 1, T, T): causal, no pads as keys; pad queries see themselves so nothing turns NaN."""
    if not bool(pads.any()):
        return None
    i = torch.arange(width)
    keys_ok = (i[None, None, :] <= i[None, :, None]) & (i[None, None, :] >= pads[:, None, None])
    return (keys_ok | torch.eye(width, dtype=torch.bool)[None])[:, None]


def step_mask(pads: torch.Tensor, keys: int) -> torch.Tensor | None:
    if not bool(pads.any()):
        return None
    return (torch.arange(keys)[None, :] >= pads[:, None])[:, None, None, :]


@torch.inference_mode()
def generate_tokens(
    model,
    prompts: Sequence[Sequence[int]],
    cfg: GenerationConfig,
    image_features: torch.Tensor | None = None,
    stop_bytes=None,
) -> Iterator[dict[int, int]]:
    """Yield {row: token} each step for the rows still running (a stop token is yielded, then the row ends).

    image_features: (N, queries, hidden) for the `<img>` spans of all prompts, in order.
    stop_bytes: `token id → bytes`, needed only for `cfg.stop_strings`.
    """
    device = model.lm_head.weight.device
    ids, pads, positions = padded_batch(prompts, cfg.pad_token_id)
    width = ids.shape[1]
    cache = model.new_cache(len(prompts), width + cfg.max_new_tokens)
    seen = [torch.tensor(list(p), device=device) for p in prompts]
    generator = torch.Generator(device=device).manual_seed(cfg.seed) if cfg.seed is not None else None
    stops = cfg.stop_ids()
    stop_strings = [s.encode() for s in cfg.stop_strings] if not cfg.ignore_eos else []
    produced = [b""] * len(prompts)
    rows = list(range(len(prompts)))  # original index of each live row
    if cfg.max_new_tokens == 0:
        return
    logits = model(ids.to(device), image_features=image_features, positions=positions.to(device),
                   attention_mask=_to(prefill_mask(pads, width), device), cache=cache, last_only=True)[:, -1]
    for step in range(cfg.max_new_tokens):
        if step < cfg.min_new_tokens:
            logits = suppress(logits, stops)
        tokens = next_tokens(logits, seen, cfg, generator).tolist()
        yield {rows[i]: t for i, t in enumerate(tokens)}
        keep = []
        for i, t in enumerate(tokens):
            if t in stops:
                continue
            if stop_strings:
                produced[rows[i]] += stop_bytes(t)
                if any(s in produced[rows[i]] for s in stop_strings):
                    continue
            keep.append(i)
        if not keep or step == cfg.max_new_tokens - 1:
            return
        next_ids = torch.tensor(tokens, device=device)[:, None]
        if len(keep) < len(rows):
            k = torch.tensor(keep)
            cache.keep(k.to(device))
            rows, pads, positions = [rows[i] for i in keep], pads[k], positions[k]
            seen, next_ids = [seen[i] for i in keep], next_ids[k.to(device)]
        positions = positions[:, -1:] + 1
        if cfg.repetition_penalty != 1.0:
            seen = [torch.cat([s, n]) for s, n in zip(seen, next_ids)]
        logits = model(next_ids, positions=positions.to(device),
                       attention_mask=_to(step_mask(pads, cache.length + 1), device),
                       cache=cache, last_only=True)[:, -1]


def _to(t: torch.Tensor | None, device) -> torch.Tensor | None:
    return None if t is None else t.to(device)
