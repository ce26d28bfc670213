"""Pretraining the small language model on text, what Qwen-VL inherits from Qwen-7B.

Plain causal language modelling on the synthetic corpus (`synthetic.iter_corpus`: scene
descriptions, task prompts with their answers, counting, sums, facts, word lists, in English
and Chinese) interleaved with the scene tasks' prompts and answers, joined by `<|endoftext|>`
into short fixed-length rows. Only the LLM trains.

The task texts matter more than their share suggests: a grounding answer repeats the phrase
of its question, and a small decoder only learns to copy (to grow induction heads) after
several hundred steps of such text. Learnt here on cheap 128-token rows, copying is ready
when the image stages start, instead of being learnt there at 300+ tokens a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

import random

from ..synthetic import iter_corpus, sample_seed
from ..synthetic.tasks import SINGLE_SCENE, scene_text
from ..training.packing import Batch, Example, collate, pack_row
from ..training.samples import IGNORE
from ..training.stages import apply_stage
from .loop import Schedule, train

ROW = 128  # tokens per row; paragraphs and task texts are ~30 tokens


# Task texts by weight: grounding most, for its copied phrase.
TASK_WEIGHTS = {"grounding": 6.0, "vqa_colour": 1.0, "vqa_shape": 1.0, "vqa_count": 1.0, "vqa_position": 1.0,
                "vqa_yesno": 1.0, "caption": 1.0, "grounded_caption": 1.0, "region_caption": 1.0}


def task_texts(seed: int) -> Iterator[tuple[str, str]]:
    """(prompt, answer) of single-scene tasks drawn by weight (no picture is rendered)."""
    rng, index = random.Random(f"lm:{seed}"), 0
    names = sorted(TASK_WEIGHTS)
    while True:
        task = rng.choices(names, [TASK_WEIGHTS[n] for n in names])[0]
        s = sample_seed(f"lm/{task}", seed, index, "train")
        _, text = scene_text(task, s, random.Random(s).choice(("en", "zh")))
        index += 1
        yield text.prompt, text.answer


def documents(tokenizer, seed: int, corpus_share: float = 0.25) -> Iterator[list[int]]:
    """Token ids of task texts, and of corpus paragraphs for `corpus_share` of the documents."""
    rng, paragraphs, tasks = random.Random(f"docs:{seed}"), iter_corpus(seed, split="train"), task_texts(seed)
    while True:
        if rng.random() < corpus_share:
            yield tokenizer.encode(next(paragraphs)) + [tokenizer.eod_id]
        else:
            prompt, answer = next(tasks)
            yield tokenizer.encode(prompt) + tokenizer.encode(answer) + [tokenizer.eod_id]  # as in stage 2


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


def text_batches(tokenizer, batch_size: int, seed: int, row: int = ROW) -> Iterator[Batch]:
    """Rows of whole documents, each attending only to itself (as a single prompt does at inference)."""
    no_pixels = torch.zeros(0, 3, 1, 1)
    stream = _Peekable(Example(ids[:row], ids[1:row] + [IGNORE], no_pixels) for ids in documents(tokenizer, seed))
    while True:
        yield collate([pack_row(stream, row) for _ in range(batch_size)], row, tokenizer.eod_id)


def pretrain_lm(model, tokenizer, schedule: Schedule, batch_size: int = 16, seed: int = 0,
                out_dir: Path | None = None, progress: bool = True) -> dict:
    """Train the LLM of `model` (everything else frozen) on the text corpus."""
    apply_stage(model, ["llm"])
    return train(model, text_batches(tokenizer, batch_size, seed), schedule, "lm", out_dir, progress=progress)
