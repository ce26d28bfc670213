"""Packing samples into fixed-length rows, each sample attending only to itself.

A packed row holds whole samples one after another, then padding. Rotary positions restart
at 0 for every sample and the attention mask is block-diagonal and causal, so a sample sees
exactly what it would see alone: packed and unpacked batches give the same loss. Labels are
shifted to next-token targets per sample *before* packing, so no sample learns to predict the
first token of the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .samples import IGNORE, Sample


@dataclass
class Example:
    """A sample ready for the model: ids, next-token targets and its images as pixels."""

    input_ids: list[int]
    targets: list[int]
    pixels: torch.Tensor  # (n_images, 3, S, S)

    @classmethod
    def from_sample(cls, sample: Sample, pixels: torch.Tensor) -> Example:
        return cls(sample.input_ids, sample.labels[1:] + [IGNORE], pixels)

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T)
    targets: torch.Tensor  # (B, T), IGNORE where nothing is predicted
    positions: torch.Tensor  # (B, T) rotary positions, restarting per sample
    attention_mask: torch.Tensor  # (B, 1, T, T) bool, True = may attend
    pixels: torch.Tensor | None  # (N, 3, S, S) for the image spans in row-major order
    n_samples: int
    n_tokens: int  # tokens that are not padding

    @property
    def n_targets(self) -> int:
        return int((self.targets != IGNORE).sum())

    def to(self, device) -> Batch:
        return Batch(*(None if t is None else t.to(device, non_blocking=True) for t in
                       (self.input_ids, self.targets, self.positions, self.attention_mask, self.pixels)),
                     self.n_samples, self.n_tokens)


def pack_row(stream, length: int) -> list[Example]:
    """Whole examples from `stream` (peek/pop) in order, while they fit in `length` tokens.

    The first example that does not fit stays in the stream for the next row: no reordering,
    so where a row starts is just a position in the stream.
    """
    row, used = [], 0
    while used + len(stream.peek()) <= length:
        row.append(stream.pop())
        used += len(row[-1])
    if not row:
        raise ValueError(f"an example of {len(stream.peek())} tokens does not fit in {length}")
    return row


def collate(rows: list[list[Example]], length: int, pad_id: int) -> Batch:
    """Rows of examples → tensors of width `length`, padded with `pad_id` (a segment of its own)."""
    b = len(rows)
    ids = torch.full((b, length), pad_id, dtype=torch.long)
    targets = torch.full((b, length), IGNORE, dtype=torch.long)
    positions = torch.zeros((b, length), dtype=torch.long)
    segments = torch.zeros((b, length), dtype=torch.long)
    pixels, n_tokens = [], 0
    for r, row in enumerate(rows):
        start = 0
        for s, ex in enumerate(row):
            end = start + len(ex)
            if end > length:
                raise ValueError(f"row of {end} tokens is longer than {length}")
            ids[r, start:end] = torch.tensor(ex.input_ids)
            targets[r, start:end] = torch.tensor(ex.targets)
            positions[r, start:end] = torch.arange(len(ex))
            segments[r, start:end] = s
            pixels.append(ex.pixels)
            start = end
        positions[r, start:] = torch.arange(length - start)
        segments[r, start:] = len(row)
        n_tokens += start
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    mask = (segments[:, :, None] == segments[:, None, :]) & causal  # (B, T, T)
    images = torch.cat(pixels) if any(p.shape[0] for p in pixels) else None
    return Batch(ids, targets, positions, mask[:, None], images, sum(len(r) for r in rows), n_tokens)
