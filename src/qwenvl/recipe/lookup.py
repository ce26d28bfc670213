"""Lookup supervision: one LLM head is told where the object a box names is in the picture.

The small LLM learns to find the object a question names among a picture's image tokens only
after a plateau of hundreds of steps, and steps are what an hour on two cores lacks (measured:
benchmarks/RESULTS.md). A synthetic world knows the answer to that search: every box written in a
supervised answer names the image tokens it covers. So at each position that predicts a box's
characters, one head of one block is trained to put its attention on those image tokens (-log of
the attention mass there), beside the LM loss. Answers without a box (a colour, a shape, yes or
no, left or right) are told likewise where the object they are read from is, when the task knows
it (`TaskText.focus`). In rows of several pictures a second head can be told, at every image
token, where its picture's number is (`label_lookups`). Nothing in the model changes; a head is free
to do anything else wherever it is not told.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..interface.grounding import Box, parse_grounding
from ..model.language import apply_rotary
from ..training.samples import IGNORE

Plan = list[list[tuple[list[int], list[int]]]]  # per row: (query positions, key positions) per lookup


def cells_in(box: tuple[int, int, int, int], grid: int) -> list[int]:
    """Row-major indices of the cells of a `grid`×`grid` image-token grid (the adapter's queries)
    whose centres lie in a [0, 1000) box; for a box too small to hold a cell centre, the cell that
    holds the box's own centre."""
    x1, y1, x2, y2 = box
    inside = [r * grid + c for r in range(grid) for c in range(grid)
              if x1 <= (c + 0.5) * 1000 / grid < x2 and y1 <= (r + 0.5) * 1000 / grid < y2]
    if inside:
        return inside
    row, col = (min(grid - 1, max(0, int((a + b) / 2 * grid / 1000))) for a, b in ((y1, y2), (x1, x2)))
    return [row * grid + col]


def _image_starts(tokenizer, ids: list[int]) -> list[int]:
    """The position of each picture's first image token (the others follow in row-major order
    of the adapter's query grid, which the miniature's local adapter keeps in place)."""
    return [k + 1 for k, t in enumerate(ids) if t == tokenizer.img_start_id]


def box_lookups(tokenizer, ids: list[int], targets: list[int], grid: int) -> list[tuple[list[int], list[int]]]:
    """(query positions, key positions) for each box of a row that is predicted (its `<box>` has a
    target): the positions from `<box>` to the last one before `</box>`, and the image tokens of the
    cells whose centres lie in the box, in the latest picture before it."""
    starts = _image_starts(tokenizer, ids)
    out = []
    for k, t in enumerate(ids):
        if t != tokenizer.box_start_id or targets[k] == IGNORE or tokenizer.box_end_id not in ids[k:]:
            continue
        end = ids.index(tokenizer.box_end_id, k)
        found = parse_grounding(tokenizer.decode(ids[k:end + 1]))
        span = [s for s in starts if s < k]
        if len(found) != 1 or not isinstance(found[0], Box) or not span:
            continue
        keys = [span[-1] + p for p in cells_in((found[0].x1, found[0].y1, found[0].x2, found[0].y2), grid)]
        if keys:
            out.append((list(range(k, end)), keys))
    return out


def label_lookups(tokenizer, ids: list[int], grid: int) -> list[tuple[list[int], list[int]]]:
    """(query positions, key positions) for a row of two or more pictures: each picture's image
    tokens look up the number of its `Picture k:` label.

    Image tokens are made alike for every picture, so a token tells which picture it is in only
    by what it takes from that picture's label; an answer that names a picture reads the number
    from the object it finds."""
    starts = _image_starts(tokenizer, ids)
    if len(starts) < 2:
        return []
    out = []
    for start in starts:
        label = [k for k in range(max(0, start - 6), start - 1) if tokenizer.decode([ids[k]]).strip().isdigit()]
        if label:
            out.append((list(range(start, min(start + grid * grid, len(ids)))), label))
    return out


def focus_lookups(tokenizer, ids: list[int], spans: list[tuple[int, int]], focus: list[tuple],
                  grid: int) -> list[tuple[list[int], list[int]]]:
    """(query positions, key positions) for the answers that name what they are read from: per
    turn, its answer's tokens (`spans`, [start, end) of positions) and its focus, (first byte, end
    byte, ((picture index, [0, 1000) box), …)) spans of the answer's text. A token looks up the
    cells of every span its bytes overlap; a run of tokens with the same keys is one lookup,
    queried at the positions that predict them."""
    starts = _image_starts(tokenizer, ids)
    out = []
    for (start, end), parts in zip(spans, focus):
        at, run = 0, None
        for pos in range(start, end):
            size = len(tokenizer.token_bytes(ids[pos]))
            keys = sorted({starts[i] + p for a, b, boxes in parts if a < at + size and at < b
                           for i, box in boxes for p in cells_in(box, grid)})
            at += size
            if run is not None and run[1] == keys:
                run[0].append(pos - 1)
                continue
            if run is not None:
                out.append(run)
            run = ([pos - 1], keys) if keys and pos > 0 else None
        if run is not None:
            out.append(run)
    return out


class HeadLookup:
    """Keeps what one block's attention receives in a forward pass, to score one head's attention.

    A forward pre-hook, so the model's code is untouched; `close()` removes it.
    """

    def __init__(self, model: nn.Module, layer: int, head: int):
        blocks, heads = len(model.transformer.h), model.cfg.llm.num_attention_heads
        if not (0 <= layer < blocks and 0 <= head < heads):
            raise ValueError(f"block {layer}, head {head} out of range: the LLM has {blocks} blocks of {heads} heads")
        self.attn, self.head = model.transformer.h[layer].attn, head
        self.inputs = None
        self.handle = self.attn.register_forward_pre_hook(self._keep)

    def _keep(self, module, args) -> None:
        self.inputs = args  # (x, rope, logn, mask, cache, layer, rows)

    def close(self) -> None:
        self.handle.remove()

    def loss(self, plan: Plan) -> torch.Tensor:
        """Mean over the planned lookups of the mean over their queries of -log(the head's attention
        mass on their keys), float32; 0 when the plan is empty. Call after the forward pass that
        `plan` describes. One product per row: its queries against all its positions."""
        x, rope, _, mask = self.inputs[:4]
        if not any(plan):
            return x.new_zeros((), dtype=torch.float32)
        if mask is None:
            raise ValueError("lookup supervision needs the batch's attention mask (a packed training batch)")
        b, t, _ = x.shape
        h, d = self.attn.cfg.num_attention_heads, self.attn.cfg.head_dim
        rows = torch.cat([torch.arange(d) + self.head * d, torch.arange(d) + (h + self.head) * d])  # its q and k
        qk = F.linear(x, self.attn.c_attn.weight[rows], self.attn.c_attn.bias[rows]).view(b, t, 2, 1, d)
        q, k = apply_rotary(qk, *rope).squeeze(3).unbind(2)  # (B, T, D), rotated as the block rotates them
        total, count = x.new_zeros((), dtype=torch.float32), sum(map(len, plan))
        for row, lookups in enumerate(plan):
            if not lookups:
                continue
            queries = [p for qs, _ in lookups for p in qs]
            target = torch.zeros(len(queries), t, dtype=torch.bool)
            weights, at = torch.empty(len(queries)), 0
            for qs, keys in lookups:
                target[at:at + len(qs), keys] = True
                weights[at:at + len(qs)] = 1 / len(qs)
                at += len(qs)
            scores = (q[row, queries].float() @ k[row].float().T) * d ** -0.5  # (Q, T)
            logp = scores.masked_fill(~mask[row, 0, queries], float("-inf")).log_softmax(-1)
            total = total - (torch.logsumexp(logp.masked_fill(~target, float("-inf")), -1) * weights).sum()
        return total / count


def with_lookup(loss_fn: Callable, model: nn.Module, weight: float, layer: int, head: int,
                plan: Callable = lambda item: item.lookups,
                kind: type[HeadLookup] = HeadLookup) -> tuple[Callable, HeadLookup]:
    """`loss_fn` (over a `data.Item`) plus `weight` × the lookup loss of `head` in block `layer`, on
    the `plan` each item carries (its box and answer lookups unless told), scored by a `kind` of
    `HeadLookup`; close the returned lookup after."""
    lookup = kind(model, layer, head)

    def loss(trained: nn.Module, item) -> torch.Tensor:
        value = loss_fn(trained, item)
        planned = plan(item)
        if item.batch.pixels is None or not planned:
            return value
        return value + weight * lookup.loss(planned)

    return loss, lookup
