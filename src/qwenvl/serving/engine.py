"""Continuous batching: one thread runs the model; requests join and leave between decode steps.

Each round the engine (1) drops sequences whose clients have gone, (2) admits waiting requests
while fewer than `max_seqs` sequences run: a request's prompt is prefilled alone, as `QwenVL`
does it (so its dynamic-NTK factor is chosen from its own prompt length), except that a prefix
it shares with a recent prompt is taken from the `PrefixCache`; its first token is chosen, and
its keys/values join the running batch's `SlotCache` once per choice (`n` choices share one
prefill), then (3) decodes one token for every running sequence at once, each at its own
position and attending only to its own slots. Finished sequences leave at once.

The bounded waiting queue refuses work beyond `max_waiting` sequences (`QueueFull`); after
`shutdown` starts nothing new is accepted (`ShuttingDown`) while everything accepted finishes.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass

import torch

from ..generation import GenerationConfig
from ..model.language import ntk_alpha
from .events import Delta, Done, Failed, Handle
from .feature_cache import FeatureCache
from .media import LoadedImage
from .prefix_cache import PrefixCache, image_spans
from .sampler import choose_tokens
from .sequence import Sequence
from .slot_cache import SlotCache

log = logging.getLogger("qwenvl.serving")


class QueueFull(Exception):
    """More work is waiting than the queue holds."""


class ShuttingDown(Exception):
    """The engine is finishing its work and takes no more."""


@dataclass
class Work:
    """One request: a prompt, its images in `<img>` order, one generation config per choice."""

    prompt: list[int]
    images: list[LoadedImage]
    configs: list[GenerationConfig]
    handle: Handle


@dataclass
class EngineStats:
    running: int
    waiting: int
    steps: int
    generated_tokens: int
    prompt_tokens: int
    reused_prompt_tokens: int  # taken from the prefix cache instead of prefilled
    feature_hits: int
    feature_misses: int


class Engine:
    def __init__(self, model, tokenizer, max_seqs: int = 16, max_waiting: int = 64, feature_cache_size: int = 64,
                 max_context: int | None = None, prefix_cache_bytes: int = 1 << 30):
        llm = model.cfg.llm
        self.model = model
        self.tokenizer = tokenizer
        self.max_seqs = max_seqs
        self.max_waiting = max_waiting
        self.max_context = max_context or llm.max_position_embeddings
        self.features = FeatureCache(feature_cache_size)
        self.prefixes = PrefixCache(prefix_cache_bytes)
        weight = model.lm_head.weight
        self._cache = SlotCache(llm.num_hidden_layers, max_seqs, llm.num_attention_heads, llm.head_dim,
                                self.max_context, weight.dtype, weight.device)
        self._running: list[Sequence] = []
        self._waiting: deque[Work] = deque()
        self._cv = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="qwenvl-engine", daemon=True)
        self.steps = self.generated_tokens = self.prompt_tokens = 0

    # ---- the caller's side (any thread) ---------------------------------------------------

    def start(self) -> "Engine":
        self._thread.start()
        return self

    def submit(self, work: Work) -> None:
        """Queue a request; QueueFull or ShuttingDown when it cannot be taken, ValueError when it cannot fit."""
        longest = len(work.prompt) + max(c.max_new_tokens for c in work.configs)
        if longest > self.max_context:
            raise ValueError(f"prompt + max_new_tokens = {longest} tokens exceeds the context of {self.max_context}")
        if not 1 <= len(work.configs) <= self.max_seqs:
            raise ValueError(f"a request needs 1 to {self.max_seqs} choices, got {len(work.configs)}")
        with self._cv:
            if self._closing:
                raise ShuttingDown("the server is shutting down")
            self._waiting = deque(w for w in self._waiting if not w.handle.cancelled)
            waiting = sum(len(w.configs) for w in self._waiting)
            if waiting + len(work.configs) > self.max_waiting:
                raise QueueFull(f"{waiting} sequences are already waiting (at most {self.max_waiting})")
            self._waiting.append(work)
            self._cv.notify()

    def shutdown(self, timeout: float | None = None) -> bool:
        """Take no more work, finish what was accepted; True when the engine thread has ended."""
        with self._cv:
            self._closing = True
            self._cv.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def closing(self) -> bool:
        return self._closing

    def has_features(self, key: str) -> bool:
        """Whether an image's features are cached (then preparing a request need not decode it)."""
        return key in self.features

    def stats(self) -> EngineStats:
        with self._cv:
            waiting = sum(len(w.configs) for w in self._waiting)
        return EngineStats(len(self._running), waiting, self.steps, self.generated_tokens, self.prompt_tokens,
                           self.prefixes.reused_tokens, self.features.hits, self.features.misses)

    # ---- the engine thread ----------------------------------------------------------------

    def _run(self) -> None:
        with torch.inference_mode():
            while (admitted := self._next_round()) is not None:
                self._drop_cancelled()
                for work in admitted:
                    self._admit(work)
                if self._running:
                    self._step()

    def _next_round(self) -> list[Work] | None:
        """Wait for work; take the waiting requests that fit. None once closing and all is done."""
        with self._cv:
            while not (self._waiting or self._running or self._closing):
                self._cv.wait()
            if self._closing and not self._waiting and not self._running:
                return None
            admitted, seats = [], self.max_seqs - len(self._running)
            while self._waiting and len(self._waiting[0].configs) <= seats:
                work = self._waiting.popleft()
                if not work.handle.cancelled:
                    admitted.append(work)
                    seats -= len(work.configs)
            return admitted

    def _admit(self, work: Work) -> None:
        """Prefill one request alone; its choices take their first token and join the batch."""
        try:
            logits, prefill = self._prefill(work)
            joining = []
            for choice, cfg in enumerate(work.configs):
                seq = Sequence.start(work.handle, choice, work.prompt, cfg, self.tokenizer)
                if self._accept(seq, choose_tokens(logits, [seq.sampling], [seq.seen])[0]):
                    joining.append(seq)
        except Exception as e:  # this request fails; the others go on
            log.exception("prefill failed")
            work.handle.emit(Failed(f"prefill failed: {type(e).__name__}: {e}"))
            return
        self.prompt_tokens += len(work.prompt)
        for seq in joining:
            self._cache.add(prefill)
            self._running.append(seq)

    def _prefill(self, work: Work):
        """Last-position logits (1, vocab) and the prompt's cache, reusing a cached prefix when one fits."""
        llm, device = self.model.cfg.llm, self._cache.lengths.device
        n = len(work.prompt)
        spans = image_spans(work.prompt, self.tokenizer.img_start_id, self.tokenizer.img_end_id,
                            [im.key for im in work.images])
        alpha = ntk_alpha(n, llm.seq_length) if llm.use_dynamic_ntk else 1.0
        entry, p = self.prefixes.longest(work.prompt, spans, alpha)
        cache = self.model.new_cache(1, n)
        rest = [im for im, (start, _, _) in zip(work.images, spans) if start >= p]
        ids = torch.tensor([work.prompt[p:]], device=device)
        if entry is None:
            out = self.model(ids, image_features=self._image_features(rest), cache=cache, last_only=True)
        else:
            for mine, theirs in zip(cache.k + cache.v, entry.kv.k + entry.kv.v):
                mine[:, :, :p] = theirs[:, :, :p]
            cache.length, cache.ntk_alphas = p, [alpha]
            positions = torch.arange(p, n, device=device)[None]
            mask = torch.arange(n, device=device)[None, :] <= positions[0, :, None]  # (T, n): causal after the prefix
            out = self.model(ids, image_features=self._image_features(rest), positions=positions,
                             attention_mask=mask[None, None], cache=cache, last_only=True)
        self.prefixes.add(work.prompt, spans, alpha, cache)
        return self._vocab_only(out[:, -1]), cache

    def _step(self) -> None:
        """One token for every running sequence; a failure fails this batch, not the engine."""
        cache, running = self._cache, self._running
        try:
            cache.reserve(cache.length + 1)
            ids = torch.tensor([[s.last] for s in running], device=cache.lengths.device)
            logits = self.model(ids, positions=cache.positions(), attention_mask=cache.step_mask(), cache=cache,
                                last_only=True)[:, -1]
            tokens = choose_tokens(self._vocab_only(logits), [s.sampling for s in running], [s.seen for s in running])
            self.steps += 1
            finished = [i for i, (s, t) in enumerate(zip(running, tokens)) if not self._accept(s, t)]
        except Exception as e:
            log.exception("decode step failed")
            self._remove(range(len(running)), Failed(f"decode failed: {type(e).__name__}: {e}"))
            return
        self._remove(finished)

    def _accept(self, seq: Sequence, token: int) -> bool:
        """Pass a token to its sequence and its client; False once the sequence has finished."""
        self.generated_tokens += 1
        delta, reason = seq.accept(token)
        if delta:
            seq.handle.emit(Delta(seq.choice, delta))
        if reason is not None:
            seq.handle.emit(Done(seq.choice, reason, list(seq.tokens)))
        return reason is None

    def _drop_cancelled(self) -> None:
        self._remove([i for i, s in enumerate(self._running) if s.handle.cancelled])

    def _remove(self, rows, event: Failed | None = None) -> None:
        """Take rows out of the batch (highest first: each removal moves the last row into the gap)."""
        for i in sorted(rows, reverse=True):
            if event is not None:
                self._running[i].handle.emit(event)
            self._cache.remove(i)
            self._running[i] = self._running[-1]
            self._running.pop()

    def _image_features(self, images: list[LoadedImage]) -> torch.Tensor | None:
        if not images:
            return None
        device = self._cache.lengths.device
        return self.features.features([im.key for im in images], [im.pixels for im in images],
                                      lambda pixels: self.model.encode_images(pixels.to(device)))

    def _vocab_only(self, logits: torch.Tensor) -> torch.Tensor:
        """The logits of real tokens: the model's padding rows past the tokenizer's vocabulary can
        never be chosen (a random checkpoint would otherwise produce ids nothing can decode)."""
        return logits[:, :self.tokenizer.vocab_size]
