"""Pretraining the small language model on text, what Qwen-VL inherits from Qwen-7B.

Plain causal language modelling on the synthetic corpus (`synthetic.iter_corpus`: scene
descriptions, task prompts with their answers, counting, sums, facts, word lists, in English
and Chinese) interleaved with the scene tasks' prompts and answers, joined by `<|endoftext|>`
into short fixed-length rows. Only the LLM trains.

The task texts matter more than their share suggests: a grounding answer repeats the phrase
of its question, and a small decoder only learns to copy (to grow induction heads) after
several hundred steps of such text. Learnt here on cheap 128-token rows, copying is ready
when the image stages start, instead of being learnt there at 300+ tokens a row.

A second phase (`context=True`) teaches what Qwen-7B brings and a 150-step LM lacks: looking an
answer up in the context. Each document is a scene's grounded caption, then questions about that
scene, only the answers supervised. The image stages ask the same of the picture, and there the
LLM sat on a plateau of hundreds of steps before it looked anything up. Text has the plateau too,
but a question costs no picture, and an LLM that looks up in text read colour from the picture
sooner (measured: benchmarks/RESULTS.md, "Looking things up in text first" and run 9).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from ..synthetic import child_seed, iter_corpus, sample_seed
from ..synthetic.scenes import SceneConfig, sample_scene
from ..synthetic.tasks import SINGLE_SCENE, scene_text
from ..training.packing import Batch, Example, collate, pack_row
from ..training.samples import IGNORE
from ..training.stages import apply_stage
from .loop import Schedule, train

ROW = 128  # tokens per row; paragraphs and task texts are ~30 tokens
CONTEXT_ROW = 320  # a grounded caption of six objects and four questions


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


# Questions of a context document: what a grounded caption settles.
CONTEXT_TASKS = ("vqa_colour", "vqa_shape", "vqa_count", "vqa_position", "vqa_yesno", "grounding", "region_caption")


def documents(tokenizer, seed: int, corpus_share: float = 0.25) -> Iterator[tuple[list[int], list[int]]]:
    """(ids, labels) of task texts, and of corpus paragraphs for `corpus_share` of the documents."""
    rng, paragraphs, tasks = random.Random(f"docs:{seed}"), iter_corpus(seed, split="train"), task_texts(seed)
    while True:
        if rng.random() < corpus_share:
            ids = tokenizer.encode(next(paragraphs)) + [tokenizer.eod_id]
        else:
            prompt, answer = next(tasks)
            ids = tokenizer.encode(prompt) + tokenizer.encode(answer) + [tokenizer.eod_id]  # as in stage 2
        yield ids, ids


def context_document(tokenizer, seed: int, tasks: Sequence[str] | None = None) -> tuple[list[int], list[int]]:
    """(ids, labels): a scene's grounded caption, then `tasks` (1-4 drawn from `CONTEXT_TASKS` when
    None) asked about it as stage 2 asks them; only the answers are supervised."""
    rng = random.Random(seed)
    lang = rng.choice(("en", "zh"))
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


def text_batches(tokenizer, batch_size: int, seed: int, context: bool = False) -> Iterator[Batch]:
    """Rows of whole documents, each attending only to itself (as a single prompt does at inference)."""
    no_pixels = torch.zeros(0, 3, 1, 1)
    docs, row = (context_documents, CONTEXT_ROW) if context else (documents, ROW)
    stream = _Peekable(Example(ids[:row], labels[1:row] + [IGNORE], no_pixels) for ids, labels in docs(tokenizer, seed))
    while True:
        yield collate([pack_row(stream, row) for _ in range(batch_size)], row, tokenizer.eod_id)


def pretrain_lm(model, tokenizer, schedule: Schedule, batch_size: int = 16, seed: int = 0,
                out_dir: Path | None = None, progress: bool = True, context: bool = False) -> dict:
    """Train the LLM of `model` (everything else frozen) on the text corpus, or with `context` on
    questions to look up in a scene's caption."""
    apply_stage(model, ["llm"])
    return train(model, text_batches(tokenizer, batch_size, seed, context), schedule,
                 "lm_context" if context else "lm", out_dir, progress=progress)
