"""Synthetic training data for the recipe, generated in the training process and never written.

The unit is a *group*: one set of pictures with several tasks asked about them. An image costs
256 LLM positions and a question a few dozen, so asking several questions per picture gives the
tiny model several times more supervision for the same compute. Groups become:
- pretraining rows (stages 1-2): the pictures in the list format, then `prompt answer<|endoftext|>`
  per task, every text token supervised (paper, Sec. 3.1), the image spans not;
- ChatML dialogues (stage 3): one user turn per task, the first one carrying the pictures,
  labelled with the official fine-tuning mask (`training.sft`).

Every seed comes from `synthetic.sample_seed(…, split="train")`, so no picture of a held-out
split is ever drawn here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from ..data.images import preprocess_batch
from ..interface.chatml import DEFAULT_SYSTEM, encode_turn
from ..interface.list_format import from_list_format
from ..synthetic import child_seed, sample_seed
from ..synthetic.scenes import SceneConfig, render_scene, sample_scene
from ..synthetic.tasks import SINGLE_SCENE, multi_image
from ..synthetic.templates import LANGS
from ..synthetic.text_render import TextConfig, render_text_scene, sample_text_scene
from ..synthetic.text_tasks import ocr, ocr_focus, ocr_quad, text_vqa
from ..training.packing import Batch, Example, collate
from ..training.samples import IGNORE, Sample
from ..training.sft import sft_sample
from .dense import patch_labels
from .lookup import Plan, box_lookups, focus_lookups, label_lookups

SIZE = 224  # pictures are drawn at this side; each stage resizes them to its own image size


@dataclass
class Group:
    """Pictures and the (prompt, answer) pairs asked about them."""

    kind: str
    images: list = field(default_factory=list)
    scenes: list = field(default_factory=list)  # per picture, its `Scene` or `TextScene`
    turns: list[tuple[str, str]] = field(default_factory=list)
    focus: list[tuple] = field(default_factory=list)  # per turn: (first byte, end byte, boxes) of its answer
    asked: set[str] = field(default_factory=set)

    def ask(self, prompt: str, answer: str, key: str | None = None, focus: tuple = ()) -> None:
        """Add a turn unless its question (or one with the same `key`) was asked: later turns see
        earlier answers, and an answer copied from the context teaches nothing about the picture.
        `focus`: (first character, end character, ((picture, grid box), …)) spans of the answer,
        what each part of it is read from."""
        key = key or prompt
        if key not in self.asked:
            self.asked.add(key)
            self.turns.append((prompt, answer))
            self.focus.append(tuple((len(answer[:a].encode()), len(answer[:b].encode()), boxes)  # tokens are bytes
                                    for a, b, boxes in focus))


def weighted(rng: random.Random, weights: dict[str, float]) -> str:
    names = sorted(weights)
    return rng.choices(names, [weights[n] for n in names])[0]


def scene_group(seed: int, lang: str, tasks: dict[str, float], n_turns: int) -> Group:
    """One scene; up to `n_turns` questions drawn from `tasks` (a task the scene cannot support is skipped)."""
    rng = random.Random(seed)
    scene = sample_scene(child_seed(seed, "scene"), SceneConfig(size=SIZE))
    group = Group("scene", [render_scene(scene)], [scene])
    for _ in range(n_turns):
        text = SINGLE_SCENE[weighted(rng, tasks)](scene, rng, lang)
        if text is not None:
            group.ask(text.prompt, text.answer, focus=((0, len(text.answer), text.focus),) if text.focus else ())
    return group


def text_group(seed: int, lang: str, tasks: dict[str, float], n_turns: int) -> Group:
    """One picture of rendered text; a sign or framed words when a text question is among the tasks."""
    rng = random.Random(seed)
    style = rng.random()
    sign, frames = style < 0.25, (rng.randint(1, 3) if 0.25 <= style < 0.5 else 0)
    scene = sample_text_scene(child_seed(seed, "text"), lang, TextConfig(size=SIZE), sign=sign, frames=frames)
    group = Group("text", [render_text_scene(scene)], [scene])
    for _ in range(n_turns):
        task = weighted(rng, tasks)
        out = text_vqa(scene, lang, rng) if task == "text_vqa" else (ocr if task == "ocr" else ocr_quad)(scene, lang)
        if out is not None and scene.items:
            prompt, answer, boxes = out
            focus = (ocr_focus(scene) if task == "ocr" else
                     ((0, len(answer), ((0, tuple(boxes[0]["box"])),)),) if task == "text_vqa" else ())
            group.ask(prompt, answer, "read" if task != "text_vqa" else prompt, focus)
    return group


def multi_group(seed: int, lang: str, n_turns: int) -> Group:
    """Two or three scenes and questions comparing them."""
    rng = random.Random(seed)
    scenes = [sample_scene(child_seed(seed, "scene", i), SceneConfig(size=SIZE)) for i in range(rng.choice((2, 3)))]
    group = Group("multi", [render_scene(s) for s in scenes], scenes)
    for _ in range(n_turns):
        text = multi_image(scenes, rng, lang)
        if text is not None:
            group.ask(text.prompt, text.answer, focus=((0, len(text.answer), text.focus),))
    return group


GROUP_KINDS = ("scene", "text", "multi")  # what `make_group` makes


def make_group(kind: str, seed: int, mix: "Mix") -> Group:
    rng = random.Random(child_seed(seed, "group"))
    lang = rng.choice(LANGS)
    n = rng.randint(*mix.turns)
    if kind == "scene":
        return scene_group(seed, lang, mix.scene_tasks, n)
    if kind == "text":
        return text_group(seed, lang, mix.text_tasks, n)
    if kind == "multi":
        return multi_group(seed, lang, max(1, n // 2))  # two or three pictures: a longer row per question
    raise ValueError(f"unknown group kind {kind!r}")


@dataclass
class Item:
    """A batch and what a stage's extra losses need beside it."""

    batch: Batch
    patch_labels: torch.Tensor | None = None  # `dense` labels of its pictures, (pictures, kinds, patches)
    lookups: Plan | None = None  # per row, `lookup`'s (query positions, key positions) pairs
    labels: Plan | None = None  # per row, its image tokens' lookups of their picture's number (`lookup.label_lookups`)


@dataclass(frozen=True)
class Mix:
    """What a stage trains on: group kinds by weight, tasks by weight within them, turns per group."""

    kinds: dict[str, float]
    scene_tasks: dict[str, float] = field(default_factory=dict)
    text_tasks: dict[str, float] = field(default_factory=dict)
    turns: tuple[int, int] = (1, 1)
    text_rows: float = 0.0  # share of batches of pure text (corpus paragraphs)


def pictures(n: int) -> str:
    """`Picture 1:<img></img>\\n…` for n pictures (sources travel beside the ids, not in them)."""
    return from_list_format([{"image": ""}] * n)


def pretrain_sample(tokenizer, group: Group) -> Sample:
    """Pictures, then `prompt answer<|endoftext|>` per turn; all text after the pictures is supervised."""
    prefix = tokenizer.encode(pictures(len(group.images)))
    ids, labels = list(prefix), [IGNORE] * len(prefix)
    for prompt, answer in group.turns:
        turn = tokenizer.encode(prompt) + tokenizer.encode(answer) + [tokenizer.eod_id]
        ids += turn
        labels += turn
    return Sample(ids, labels, [""] * len(group.images))


def chat_sample(tokenizer, group: Group) -> Sample:
    """A ChatML dialogue: the pictures open the first user turn; the official fine-tuning labels."""
    conversation = []
    for i, (prompt, answer) in enumerate(group.turns):
        opening = pictures(len(group.images)) if i == 0 else ""
        conversation += [{"from": "user", "value": opening + prompt}, {"from": "assistant", "value": answer}]
    return sft_sample(tokenizer, conversation)


def answer_spans(tokenizer, group: Group, fmt: str) -> list[tuple[int, int]]:
    """Where each turn's answer lies in the ids of `pretrain_sample` or `chat_sample`: [start, end).

    Both builders encode an answer on its own, so its tokens are exactly `encode(answer)`.
    """
    spans = []
    if fmt == "pretrain":
        at = len(tokenizer.encode(pictures(len(group.images))))
        for prompt, answer in group.turns:
            at += len(tokenizer.encode(prompt))
            spans.append((at, at + len(tokenizer.encode(answer))))
            at += len(tokenizer.encode(answer)) + 1
        return spans
    nl = len(tokenizer.encode("\n"))
    at = len(encode_turn(tokenizer, "system", DEFAULT_SYSTEM, "all")) + nl
    head = 1 + len(tokenizer.encode("assistant")) + nl  # <|im_start|>assistant\n
    for i, (prompt, answer) in enumerate(group.turns):
        opening = pictures(len(group.images)) if i == 0 else ""
        at += len(encode_turn(tokenizer, "user", opening + prompt, "all")) + nl
        size = len(tokenizer.encode(answer, "all"))
        spans.append((at + head, at + head + size))
        at += head + size + 1 + nl
    return spans


def text_sample(tokenizer, paragraphs: Sequence[str]) -> Sample:
    """Pure-text autoregression: paragraphs, each closed by `<|endoftext|>`."""
    ids = [t for p in paragraphs for t in tokenizer.encode(p) + [tokenizer.eod_id]]
    return Sample(ids, list(ids))


class GroupStream:
    """Endless batches of one stage: each batch one group kind, so its rows have similar lengths.

    With `pool` > 1 the stream draws that many batches of one kind at once and batches their rows
    in order of length: padding is what a batch computes for nothing, and at `pool` 4 the LLM's
    positions fell from 1.22× the real ones to 1.07× (its attention, which grows with the square,
    from 1.44× to 1.13×) on stage 2's mix.
    With `patch_grid` (the ViT's patches a side) or `lookup_grid` (the adapter's queries a side) each item is an `Item`
    with the `dense` labels of the batch's pictures, or the `lookup` plan of its rows, beside it; with
    `label_lookups` too, the plan of each row's image tokens to its pictures' numbers.
    """

    def __init__(self, tokenizer, mix: Mix, fmt: str, image_size: int, batch_size: int, seed: int, name: str,
                 patch_grid: int = 0, pool: int = 1, lookup_grid: int = 0,
                 answer_lookups: tuple[str, ...] = (), label_lookups: bool = False):
        if fmt not in ("pretrain", "chat"):
            raise ValueError(f"format must be 'pretrain' or 'chat', got {fmt!r}")
        if pool < 1:
            raise ValueError(f"pool must be at least 1 batch, got {pool}")
        if unknown := set(answer_lookups) - set(GROUP_KINDS):
            raise ValueError(f"answer lookups name unknown group kinds {sorted(unknown)}: use {', '.join(GROUP_KINDS)}")
        self.tokenizer, self.mix, self.fmt, self.image_size = tokenizer, mix, fmt, image_size
        self.batch_size, self.seed, self.name, self.patch_grid, self.pool = batch_size, seed, name, patch_grid, pool
        if label_lookups and not lookup_grid:
            raise ValueError("label lookups need the adapter's grid (lookup_grid)")
        self.lookup_grid, self.answer_lookups, self.label_lookups = lookup_grid, answer_lookups, label_lookups
        self.index = 0
        self.rng = random.Random(f"{name}:{seed}")
        self.ready: list = []  # batches drawn with the last pool, not yet handed out

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch | Item:
        if self.ready:
            return self.ready.pop(0)
        if self.mix.text_rows and self.rng.random() < self.mix.text_rows:
            batch = self._text_batch()
            return Item(batch) if self.patch_grid or self.lookup_grid else batch
        kind = weighted(self.rng, self.mix.kinds)
        rows = []  # (example, its pictures' scenes, its lookups)
        while len(rows) < self.batch_size * self.pool:
            seed = sample_seed(f"{self.name}/{kind}", self.seed, self.index, "train")
            self.index += 1
            group = make_group(kind, seed, self.mix)
            if group.turns:
                example = self.example(group)
                plan = self.lookups(group, example) if self.lookup_grid else []
                rows.append((example, group.scenes, plan))
        if self.pool > 1:
            rows.sort(key=lambda row: len(row[0]))
        self.ready = [self._batch(rows[i:i + self.batch_size]) for i in range(0, len(rows), self.batch_size)]
        return self.ready.pop(0)

    def _batch(self, rows: list) -> Batch | Item:
        examples = [example for example, _, _ in rows]
        batch = collate([[e] for e in examples], max(map(len, examples)), self.tokenizer.eod_id)
        if not (self.patch_grid or self.lookup_grid):
            return batch
        labels = None
        if self.patch_grid:
            scenes = [scene for _, group_scenes, _ in rows for scene in group_scenes]
            labels = torch.tensor([patch_labels(s, self.patch_grid) for s in scenes])
        numbers = ([label_lookups(self.tokenizer, e.input_ids, self.lookup_grid) for e in examples]
                   if self.label_lookups else None)
        return Item(batch, labels, [plan for _, _, plan in rows] if self.lookup_grid else None, numbers)

    def lookups(self, group: Group, example: Example) -> list:
        """The row's lookups: each box its answers write, and when the group's kind is among
        `answer_lookups` what each answer without one is read from."""
        boxes = box_lookups(self.tokenizer, example.input_ids, example.targets, self.lookup_grid)
        if group.kind not in self.answer_lookups:
            return boxes
        spans = answer_spans(self.tokenizer, group, self.fmt)
        return boxes + focus_lookups(self.tokenizer, example.input_ids, spans, group.focus, self.lookup_grid)

    def example(self, group: Group) -> Example:
        build = pretrain_sample if self.fmt == "pretrain" else chat_sample
        sample = build(self.tokenizer, group)
        return Example.from_sample(sample, preprocess_batch(group.images, self.image_size))

    def _text_batch(self) -> Batch:
        from ..synthetic.corpus import paragraph

        rows = []
        for _ in range(self.batch_size):
            seeds = [sample_seed(f"{self.name}/text", self.seed, self.index + k, "train") for k in range(4)]
            self.index += 4
            sample = text_sample(self.tokenizer, [paragraph(s, random.Random(s).choice(LANGS)) for s in seeds])
            rows.append(Example.from_sample(sample, torch.zeros(0, 3, self.image_size, self.image_size)))
        return collate([[e] for e in rows], max(map(len, rows)), self.tokenizer.eod_id)
