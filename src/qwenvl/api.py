"""The public Python API: a loaded model, its tokenizer and generation defaults, images at the edge.

Drop-in for the official remote code: `QwenVL.from_pretrained(dir)`, `model(input_ids, images=…)`,
`model.generate(…)`, `model.chat(tokenizer, query, history)`; plus `chat_stream` yielding text
deltas and `generate_batch` for many prompts at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import torch

from .checkpoint import load_model
from .data.images import ImageLimits, load_image, preprocess_batch
from .generation import GenerationConfig, TextStream, generate_tokens
from .interface.chatml import DEFAULT_SYSTEM, make_context, stop_token_ids
from .interface.grounding import parse_grounding
from .interface.list_format import as_text, image_sources, source_text
from .interface.prompts import GROUNDING_CHAT, GROUNDING_RAW
from .interface.tokenizer import QwenTokenizer
from .model import QWenLMHeadModel

class QwenVL:
    def __init__(self, model: QWenLMHeadModel, tokenizer: QwenTokenizer,
                 generation_config: GenerationConfig | None = None, image_limits: ImageLimits | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.generation_config = generation_config or GenerationConfig()
        self.image_limits = image_limits or ImageLimits()

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: str | torch.dtype | None = "float32",
                        device: str | torch.device = "cpu", image_limits: ImageLimits | None = None) -> "QwenVL":
        model = load_model(path, dtype=dtype, device=device)
        tokenizer = QwenTokenizer.from_pretrained(path, image_tokens=model.cfg.adapter.n_queries)
        if tokenizer.vocab_size > model.cfg.llm.vocab_size:
            raise ValueError(f"{path}: tokenizer has {tokenizer.vocab_size} tokens, more than the model's "
                             f"vocab_size {model.cfg.llm.vocab_size}")
        return cls(model, tokenizer, GenerationConfig.from_file(path), image_limits)

    @property
    def device(self) -> torch.device:
        return self.model.lm_head.weight.device

    @property
    def cfg(self):
        return self.model.cfg

    # ---- images ---------------------------------------------------------------------------

    def pixels(self, images: Sequence) -> torch.Tensor:
        """Image sources (path, URL, bytes, base64, data URL, PIL image) → (N, 3, S, S)."""
        loaded = [load_image(src, self.image_limits) for src in images]
        return preprocess_batch(loaded, self.cfg.vision.image_size)

    @torch.inference_mode()
    def image_features(self, images, input_ids: torch.Tensor | None = None) -> torch.Tensor | None:
        """Features for the `<img>` spans: from sources, a pixel tensor, or (drop-in) the ids' bytes."""
        if images is None and input_ids is not None:
            images = self.sources_in_ids(input_ids)
        if images is None or len(images) == 0:
            return None
        pixels = images if isinstance(images, torch.Tensor) else self.pixels(images)
        return self.model.encode_images(pixels.to(self.device))

    def sources_in_ids(self, input_ids: torch.Tensor) -> list[str]:
        """Image sources stored as bytes inside ids, as the official tokenizer writes short paths."""
        sources = []
        for row in input_ids.tolist():
            for i, t in enumerate(row):
                if t == self.tokenizer.img_start_id:
                    inner = row[i + 1:i + 1 + self.tokenizer.image_tokens]
                    raw = inner[:inner.index(self.tokenizer.img_pad_id)] if self.tokenizer.img_pad_id in inner else inner
                    if not raw:
                        raise ValueError("input_ids hold an image span without its source: pass images=[...]")
                    sources.append(bytes(raw).decode("utf-8", errors="replace"))
        return sources

    # ---- the official model interface -----------------------------------------------------

    def __call__(self, input_ids: torch.Tensor, images=None) -> torch.Tensor:
        """Logits (B, T, vocab) of unpadded prompts."""
        with torch.inference_mode():
            return self.model(input_ids.to(self.device), image_features=self.image_features(images, input_ids))

    def generation_settings(self, **overrides) -> GenerationConfig:
        return self.generation_config.updated(**overrides)

    def generate(self, input_ids: torch.Tensor | Sequence[Sequence[int]], images=None,
                 attention_mask: torch.Tensor | None = None, **generation) -> torch.Tensor:
        """Prompt + new tokens per row (rows that stop early are padded), like HF `generate`.

        `attention_mask` (1 = token, 0 = padding) strips the caller's own padding first.
        """
        rows = input_ids.tolist() if isinstance(input_ids, torch.Tensor) else [list(p) for p in input_ids]
        prompts = rows if attention_mask is None else \
            [[t for t, keep in zip(p, m) if keep] for p, m in zip(rows, attention_mask.tolist())]
        cfg = self.generation_settings(**generation)
        new = self.generate_batch(prompts, images, cfg)
        width = max(len(r) + len(n) for r, n in zip(rows, new))
        return torch.tensor([r + n + [cfg.pad_token_id] * (width - len(r) - len(n)) for r, n in zip(rows, new)])

    def generate_batch(self, prompts: Sequence[Sequence[int]], images=None,
                       cfg: GenerationConfig | None = None) -> list[list[int]]:
        """New tokens for each prompt, decoded together; `images` covers all prompts' spans in order."""
        cfg = cfg or self.generation_config
        ids = torch.tensor([t for p in prompts for t in p])[None] if images is None else None
        features = self.image_features(images, ids)
        out: list[list[int]] = [[] for _ in prompts]
        for step in generate_tokens(self.model, prompts, cfg, features, self.tokenizer.token_bytes):
            for row, token in step.items():
                out[row].append(token)
        return out

    # ---- chat -----------------------------------------------------------------------------

    def chat(self, tokenizer: QwenTokenizer | None, query, history=None, system: str = DEFAULT_SYSTEM,
             **generation) -> tuple[str, list]:
        """One answer and the new history (the caller's list is not changed)."""
        response = "".join(self.chat_stream(tokenizer, query, history, system, **generation))
        return response.strip(), list(history or []) + [(as_text(query), response.strip())]

    def chat_stream(self, tokenizer: QwenTokenizer | None, query, history=None, system: str = DEFAULT_SYSTEM,
                    **generation) -> Iterator[str]:
        """Text deltas of the answer as they are decoded."""
        tokenizer = tokenizer or self.tokenizer
        cfg = self.generation_settings(**generation)
        if cfg.chat_format != "chatml":
            cfg = cfg.updated(chat_format="chatml")
        cfg = cfg.updated(stop_token_ids=tuple(set(cfg.stop_token_ids) | set(stop_token_ids(tokenizer))))
        raw, tokens = make_context(tokenizer, query, history, system, cfg.max_window_size)
        yield from self.stream_tokens(tokens, image_sources(raw), cfg)

    def stream_tokens(self, prompt: list[int], images, cfg: GenerationConfig) -> Iterator[str]:
        """Decode one prompt and yield UTF-8-safe text deltas until a stop token or string."""
        stream = TextStream(self.tokenizer, cfg.stop_strings)
        stops = cfg.stop_ids()
        for step in generate_tokens(self.model, [prompt], cfg, self.image_features(images),
                                    self.tokenizer.token_bytes):
            token = step[0]
            if token in stops:
                break
            delta = stream.push(token)
            if delta:
                yield delta
            if stream.stopped:
                break
        tail = stream.finish()
        if tail:
            yield tail

    # ---- grounding ------------------------------------------------------------------------

    def ground(self, image, expression: str, max_new_tokens: int = 64) -> tuple[str, list]:
        """Boxes for `expression` in `image`: (the model's text, parsed Box items).

        Base models (chat_format "raw") continue the paper's `<ref>…</ref><box>` prompt; chat
        models answer a ChatML question. Decoding is greedy.
        """
        if self.generation_config.chat_format == "chatml":
            query = [{"image": image}, {"text": GROUNDING_CHAT.format(expression=expression)}]
            text, _ = self.chat(None, query, do_sample=False, max_new_tokens=max_new_tokens)
        else:
            prefix = GROUNDING_RAW.format(expression=expression)
            prompt = self.tokenizer.image_span(source_text(image)) + self.tokenizer.encode(prefix)
            cfg = self.generation_settings(do_sample=False, max_new_tokens=max_new_tokens,
                                           stop_strings=("</box>",))
            text = prefix + "".join(self.stream_tokens(prompt, [image], cfg)) + "</box>"
        return text, parse_grounding(text)
