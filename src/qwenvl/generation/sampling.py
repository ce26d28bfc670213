"""Next-token choice as small pure functions over (B, vocab) logits, in the HF order:
repetition penalty → temperature → top-k → top-p → sample (or argmax)."""

from __future__ import annotations

import torch


def repetition_penalty(logits: torch.Tensor, seen: list[torch.Tensor], penalty: float) -> torch.Tensor:
    """Divide positive (multiply negative) logits of tokens already seen in each row."""
    if penalty == 1.0:
        return logits
    logits = logits.clone()
    for row, ids in enumerate(seen):
        score = logits[row, ids]
        logits[row, ids] = torch.where(score < 0, score * penalty, score / penalty)
    return logits


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability reaches `p` (at least one)."""
    if p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # mass of strictly more likely tokens
    drop_sorted = before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def suppress(logits: torch.Tensor, token_ids) -> torch.Tensor:
    """Logits with `token_ids` made impossible (HF's min_new_tokens: no stop before the minimum)."""
    if not token_ids:
        return logits
    logits = logits.clone()
    logits[:, list(token_ids)] = float("-inf")
    return logits


def next_tokens(logits: torch.Tensor, seen: list[torch.Tensor], cfg, generator: torch.Generator | None) -> torch.Tensor:
    logits = repetition_penalty(logits.float(), seen, cfg.repetition_penalty)
    if not cfg.do_sample:
        return logits.argmax(-1)
    logits = top_p_filter(top_k_filter(logits / cfg.temperature, cfg.top_k), cfg.top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)
