"""The model's side of an evaluation: a batch of items in, one prediction row per item out.

Generation is greedy and batched (rows decode as they would alone); multiple choice runs every
option's sequence in one left-padded forward and keeps each option's mean loss over its letter
tokens. An item whose image cannot be decoded gets an error row instead of stopping the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ..data.images import ImageError
from ..generation.decode import padded_batch, prefill_mask
from ..interface.chatml import stop_token_ids
from .metrics import predict_option
from .prompting import Prompt, ShotPicker, build_prompt, option_targets
from .tasks import Item, Task

Predictor = Callable[[Sequence[Item]], list[dict]]


class ModelPredictor:
    """Predictions of a loaded `QwenVL` for one task, format and few-shot setting."""

    def __init__(self, vl, task: Task, fmt: str, shots: ShotPicker | None = None,
                 max_new_tokens: int | None = None):
        self.vl, self.task, self.fmt = vl, task, fmt
        self.shots = shots or ShotPicker([], 0)
        stops = stop_token_ids(vl.tokenizer) if fmt == "chat" else [vl.tokenizer.eod_id]
        self.stops = set(stops)
        self.cfg = vl.generation_settings(
            do_sample=False, max_new_tokens=max_new_tokens or task.new_tokens(fmt),
            min_new_tokens=task.min_new_tokens, stop_token_ids=stops, stop_strings=())

    def prompt(self, item: Item) -> Prompt:
        return build_prompt(self.task, item, self.fmt, self.vl.tokenizer, self.shots(item))

    def __call__(self, items: Sequence[Item]) -> list[dict]:
        run = self.generate if self.task.mode == "generate" else self.rank_options
        try:
            return run(items)
        except (ImageError, OSError) as e:
            if len(items) > 1:  # find the item at fault; the others still get their predictions
                return [row for item in items for row in self([item])]
            return [{"id": items[0].id, "error": str(e)}]

    def generate(self, items: Sequence[Item]) -> list[dict]:
        prompts = [self.prompt(item) for item in items]
        images = [src for p in prompts for src in p.images]
        outputs = self.vl.generate_batch([p.ids for p in prompts], images, self.cfg)
        return [self.decoded(item.id, tokens) for item, tokens in zip(items, outputs)]

    def decoded(self, item_id: str, tokens: list[int]) -> dict:
        """The reply up to its stop token: `text` as the official scripts decode it (special tokens
        dropped, stripped), `raw` with the grounding tags kept."""
        end = next((k for k, t in enumerate(tokens) if t in self.stops), len(tokens))
        tokens = tokens[:end]
        tokenizer = self.vl.tokenizer
        return {"id": item_id, "text": tokenizer.decode(tokens, skip_special_tokens=True).strip(),
                "raw": tokenizer.decode(tokens)}

    @torch.inference_mode()
    def rank_options(self, items: Sequence[Item]) -> list[dict]:
        prompts = [self.prompt(item) for item in items]
        targets = [option_targets(self.vl.tokenizer, item, self.fmt) for item in items]
        features = self.vl.image_features([src for p in prompts for src in p.images])
        sequences, image_index, first = [], [], 0
        for prompt, options in zip(prompts, targets):
            for option in options:
                sequences.append(prompt.ids + option)
                image_index.extend(range(first, first + len(prompt.images)))
            first += len(prompt.images)
        losses = self.target_losses(sequences, [len(t) for options in targets for t in options],
                                    None if features is None else features[torch.tensor(image_index)])
        rows, k = [], 0
        for item, options in zip(items, targets):
            item_losses = losses[k:k + len(options)]
            k += len(options)
            rows.append({"id": item.id, "losses": item_losses, "choice": predict_option(item_losses)})
        return rows

    def target_losses(self, sequences: list[list[int]], lengths: list[int], features) -> list[float]:
        """Mean cross-entropy of each sequence's last `length` tokens given what precedes them."""
        model = self.vl.model
        device = self.vl.device
        ids, pads, positions = padded_batch(sequences, self.cfg.pad_token_id)
        mask = prefill_mask(pads, ids.shape[1])
        hidden = model.transformer(ids.to(device), image_features=features, positions=positions.to(device),
                                   attention_mask=None if mask is None else mask.to(device))
        longest = max(lengths)
        logits = model.logits(hidden[:, -longest - 1:-1]).float()  # (S, longest, vocab): only what is scored
        targets = ids[:, -longest:].to(device)
        return [F.cross_entropy(logits[s, longest - n:], targets[s, longest - n:]).item()
                for s, n in enumerate(lengths)]
