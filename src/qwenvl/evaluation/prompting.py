"""Token prompts for a task's items: base-model text or ChatML, with optional in-context examples.

Base models get the paper's prompt; a few-shot prompt puts each example's prompt and answer
first, as the official scripts do (`prompt + " " + answer`, examples back to back). Chat models
get one ChatML query, the examples as earlier turns of the dialogue.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..interface import prompts
from ..interface import special_tokens as st
from ..interface.chatml import DEFAULT_SYSTEM, make_context
from ..interface.list_format import image_sources
from .tasks import Item, Task
from .tasks.base import chat_query

FORMATS = ("base", "chat")


@dataclass(frozen=True)
class Prompt:
    ids: list[int]
    images: list[str]  # the sources of the prompt's `<img>` spans, in order


def resolve_format(fmt: str, chat_format: str) -> str:
    """'auto' follows the checkpoint: ChatML models are asked in chat format, raw ones as base models."""
    if fmt == "auto":
        return "chat" if chat_format == "chatml" else "base"
    if fmt not in FORMATS:
        raise ValueError(f"format must be auto, base or chat, got {fmt!r}")
    return fmt


def build_prompt(task: Task, item: Item, fmt: str, tokenizer, shots: Sequence[Item] = ()) -> Prompt:
    if fmt == "base":
        text = "".join(f"{task.base_prompt(s)} {task.shot_answer(s)}" for s in shots) + task.base_prompt(item)
        return Prompt(tokenizer.encode(text, st.IMAGE_ST), image_sources(text))
    history = [(chat_query(s, task.chat_text(s)), task.shot_answer(s)) for s in shots]
    raw, ids = make_context(tokenizer, chat_query(item, task.chat_text(item)), history, DEFAULT_SYSTEM)
    return Prompt(ids, image_sources(raw))


def option_targets(tokenizer, item: Item, fmt: str) -> list[list[int]]:
    """The tokens whose loss ranks each option: " A", " B", … after "Answer:", or the bare letter
    a chat answer starts with."""
    lead = " " if fmt == "base" else ""
    return [tokenizer.encode(lead + letter, ()) for letter in prompts.OPTION_LETTERS[:len(item.choices)]]


@dataclass(frozen=True)
class ShotPicker:
    """Deterministic in-context examples: the same item always gets the same examples, whatever the
    batch, rank or resume; an example never shares an image with the question it precedes."""

    pool: Sequence[Item]
    k: int
    seed: int = 0

    def __post_init__(self):
        if self.k < 0:
            raise ValueError(f"shots must be >= 0, got {self.k}")
        if self.k and len(self.pool) <= self.k:
            raise ValueError(f"{self.k} shots need more than {len(self.pool)} items to draw examples from")

    def __call__(self, item: Item) -> list[Item]:
        if not self.k:
            return []
        rng = random.Random(f"{self.seed}/{item.id}")
        images = set(item.images)
        picked: dict[str, Item] = {}
        tries = 0
        while len(picked) < self.k:
            candidate = self.pool[rng.randrange(len(self.pool))]
            tries += 1
            if candidate.id not in picked and candidate.id != item.id and not images & set(candidate.images):
                picked[candidate.id] = candidate
            elif tries > 100 * self.k:
                raise ValueError(f"cannot find {self.k} examples for {item.id} that show other images")
        return list(picked.values())
