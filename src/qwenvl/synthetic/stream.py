"""Endless, deterministic streams of records for every synthetic task.

Sample `i` of a stream is a pure function of (task, seed, i, split) through `seeds.sample_seed`,
so streams can be cut, resumed or sharded anywhere, and the held-out splits ('val', 'test')
never share a scene or text layout with 'train'.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from .corpus import corpus_record
from .records import Record
from .scenes import SceneConfig
from .seeds import sample_seed
from .tasks import SCENE_TASKS, scene_record
from .templates import LANGS
from .text_render import TextConfig
from .text_tasks import TEXT_TASKS, text_record

TASKS = (*SCENE_TASKS, *TEXT_TASKS, "text")


def make_sample(task: str, seed: int, lang: str | None = None, scene_config: SceneConfig = SceneConfig(),
                text_config: TextConfig = TextConfig()) -> Record:
    """The record of `task` for one sample seed; `lang` None picks English or Chinese from the seed."""
    lang = lang or random.Random(seed).choice(LANGS)
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    if task in SCENE_TASKS:
        return scene_record(task, seed, lang, scene_config)
    if task in TEXT_TASKS:
        return text_record(task, seed, lang, text_config)
    if task == "text":
        return corpus_record(seed, lang, scene_config)
    raise ValueError(f"unknown task {task!r}; choose from {TASKS}")


def iter_samples(task: str | Sequence[str], seed: int = 0, n: int | None = None, *, split: str = "train",
                 lang: str | None = None, size: int = 224, scene_config: SceneConfig | None = None,
                 text_config: TextConfig | None = None) -> Iterator[Record]:
    """Records of `task` (or of several tasks in turn), endlessly or `n` of them.

    `size` is the side of every image unless a config with its own size is given.
    """
    tasks = [task] if isinstance(task, str) else list(task)
    for t in tasks:
        if t not in TASKS:
            raise ValueError(f"unknown task {t!r}; choose from {TASKS}")
    scene_config = scene_config or SceneConfig(size=size)
    text_config = text_config or TextConfig(size=size)
    index = 0
    while n is None or index < n:
        t = tasks[index % len(tasks)]
        yield make_sample(t, sample_seed(t, seed, index, split), lang, scene_config, text_config)
        index += 1
