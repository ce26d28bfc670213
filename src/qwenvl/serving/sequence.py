"""One choice being generated: its sampling row, its tokens and text so far, and when it ends."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..generation import GenerationConfig, TextStream
from .events import Handle
from .sampler import RowSampling


@dataclass
class Sequence:
    handle: Handle
    choice: int
    sampling: RowSampling
    stops: set[int]
    max_new_tokens: int
    stream: TextStream
    seen: torch.Tensor | None  # prompt + tokens, kept only for a repetition penalty
    tokens: list[int] = field(default_factory=list)

    @classmethod
    def start(cls, handle: Handle, choice: int, prompt: list[int], cfg: GenerationConfig, tokenizer) -> "Sequence":
        generator = torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None
        sampling = RowSampling(cfg.do_sample, cfg.temperature, cfg.top_k, cfg.top_p, cfg.repetition_penalty,
                               generator)
        seen = torch.tensor(prompt) if cfg.repetition_penalty != 1.0 else None
        return cls(handle, choice, sampling, cfg.stop_ids(), cfg.max_new_tokens,
                   TextStream(tokenizer, cfg.stop_strings), seen)

    @property
    def last(self) -> int:
        return self.tokens[-1]

    def accept(self, token: int) -> tuple[str, str | None]:
        """Add a generated token: (text now safe to show, finish reason or None while running)."""
        self.tokens.append(token)
        if self.seen is not None:
            self.seen = torch.cat([self.seen, torch.tensor([token])])
        if token in self.stops:
            delta, reason = "", "stop"
        else:
            delta = self.stream.push(token)
            reason = "stop" if self.stream.stopped else None
        if reason is None and len(self.tokens) >= self.max_new_tokens:
            reason = "length"
        if reason is not None:
            delta += self.stream.finish()
        return delta, reason
