"""Pretraining the small language model on text, what Qwen-VL inherits from Qwen-7B.

What the image stages need most from the LLM is what Qwen-7B brings and a small fresh decoder
lacks: looking an answer up in its context. So the LM learns on documents that ask it to: each
is a scene's grounded caption, then questions about that scene asked as stage 2 asks them, only
the answers supervised. A grounding answer repeats the phrase of its question and copies a box
from the caption, so copying (induction heads) is learnt here too, on cheap text rows. Only the
LLM trains.

The documents come alone, from a fresh LLM. After 150 steps of plain causal LM on the corpus the
same documents stalled at ~0.4 held-out lookup accuracy, where a fresh LLM reached 0.77; with
half of each batch plain text, nothing was looked up by 900 steps (measured:
benchmarks/RESULTS.md, "But a fresh LM learns the lookup much better"). The corpus still shapes
the tokenizer, and stage 2 trains the LLM on every text.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from ..synthetic import child_seed, sample_seed
from ..synthetic.scenes import SceneConfig, sample_scene
from ..synthetic.tasks import SINGLE_SCENE
from ..synthetic.templates import LANGS
from ..training.packing import Batch, Example, collate, pack_row
from ..training.samples import IGNORE
from ..training.stages import apply_stage
from .loop import Schedule, train

ROW = 320  # a grounded caption of six objects and four questions

# Questions of a context document: what a grounded caption settles. "caption" asks for the caption
# again without its boxes, so the LM also learns to write the captions stage 1 trains on (its LLM
# is frozen): held-out lookup stayed where it was with it, and captions were copied whole 0.27 of
# the time against 0 (`benchmarks/text_lookup.py`, benchmarks/RESULTS.md).
CONTEXT_TASKS = ("vqa_colour", "vqa_shape", "vqa_count", "vqa_position", "vqa_yesno", "grounding", "region_caption",
                 "caption")


def context_document(tokenizer, seed: int, tasks: Sequence[str] | None = None) -> tuple[list[int], list[int]]:
    """(ids, labels): a scene's grounded caption, then `tasks` (1-4 drawn from `CONTEXT_TASKS` when
    None) asked about it as stage 2 asks them; only the answers are supervised."""
    rng = random.Random(seed)
    lang = rng.choice(LANGS)
    scene = sample_scene(child_seed(seed, "scene"), SceneConfig())
    ids = tokenizer.encode(SINGLE_SCENE["grounded_caption"](scene, rng, lang).answer) + [tokenizer.eod_id]
    labels = [IGNORE] * len(ids)
    for task in tasks or [rng.choice(CONTEXT_TASKS) for _ in range(rng.randint(1, 4))]:
        text = SINGLE_SCENE[task](scene, rng, lang)
        if text is None:
            continue
        prompt, answer = tokenizer.encode(text.prompt), tokenizer.encode(text.answer) + [tokenizer.eod_id]
        ids += prompt + answer
        labels += [IGNORE] * len(prompt) + answer
    return ids, labels


def context_documents(tokenizer, seed: int) -> Iterator[tuple[list[int], list[int]]]:
    """`context_document`s of the train split, endlessly."""
    index = 0
    while True:
        yield context_document(tokenizer, sample_seed("lm/context", seed, index, "train"))
        index += 1


class _Peekable:
    """Examples with the `peek`/`pop` that `training.packing.pack_row` reads."""

    def __init__(self, examples: Iterator[Example]):
        self.examples, self.next = examples, None

    def peek(self) -> Example:
        if self.next is None:
            self.next = next(self.examples)
        return self.next

    def pop(self) -> Example:
        example, self.next = self.peek(), None
        return example


def text_batches(tokenizer, batch_size: int, seed: int) -> Iterator[Batch]:
    """Rows of whole documents, each attending only to itself (as a single prompt does at inference)."""
    no_pixels = torch.zeros(0, 3, 1, 1)
    stream = _Peekable(Example(ids[:ROW], labels[1:ROW] + [IGNORE], no_pixels)
                       for ids, labels in context_documents(tokenizer, seed))
    while True:
        yield collate([pack_row(stream, ROW) for _ in range(batch_size)], ROW, tokenizer.eod_id)


def pretrain_lm(model, tokenizer, schedule: Schedule, batch_size: int = 16, seed: int = 0,
                out_dir: Path | None = None, progress: bool = True) -> dict:
    """Train the LLM of `model` (everything else frozen) to look answers up in scene captions."""
    apply_stage(model, ["llm"])
    return train(model, text_batches(tokenizer, batch_size, seed), schedule, "lm", out_dir, progress=progress)
