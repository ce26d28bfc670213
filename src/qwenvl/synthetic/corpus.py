"""A text corpus for pure-text autoregression and for pretraining a small language model.

Short English and Chinese paragraphs over the same closed vocabulary as the images: scene
descriptions, the exact prompts and answers of the scene tasks (so the LM has seen every
template), counting, sums, simple facts and the OCR word lists. Deterministic by seed, with the
same split-disjoint seeds as the image tasks (see `seeds`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from . import templates as T
from .records import Record, record
from .scenes import Scene, SceneConfig, sample_scene
from .seeds import child_seed, sample_seed
from .tasks import SINGLE_SCENE
from .vocab import COLOURS, DIGITS_ZH, NUMBERS_EN, NUMBERS_ZH, SHAPES
from .words import CHINESE, ENGLISH, FACTS

KINDS = ("scene", "task", "count", "sequence", "plus", "fact", "words")


def _scene(rng: random.Random, lang: str, scene: Scene) -> str:
    return SINGLE_SCENE["caption"](scene, rng, lang).answer


def _task(rng: random.Random, lang: str, scene: Scene) -> str | None:
    """A scene task's prompt and answer as running text; None when the scene cannot support the task."""
    text = SINGLE_SCENE[rng.choice(sorted(SINGLE_SCENE))](scene, rng, lang)
    return None if text is None else f"{text.prompt} {text.answer}"


def _count(rng: random.Random, lang: str) -> str:
    n = rng.randint(1, 6)
    shape, colour = rng.choice(SHAPES).name, rng.choice(COLOURS).name
    if n == 1:
        return T.sentence("count_one", lang, thing=T.kind_phrase(shape, colour, lang, plural=False))
    number = NUMBERS_EN[n] if lang == "en" else NUMBERS_ZH[n]
    return T.sentence("count", lang, n=number, things=T.kind_phrase(shape, colour, lang))


def _sequence(rng: random.Random, lang: str) -> str:
    start = rng.randint(0, 5)
    names = NUMBERS_EN if lang == "en" else DIGITS_ZH
    return T.word_list(list(names[start:start + rng.randint(3, 6)]), lang)


def _plus(rng: random.Random, lang: str) -> str:
    a = rng.randint(0, 10)
    b = rng.randint(0, 10 - a)
    names = NUMBERS_EN if lang == "en" else DIGITS_ZH
    return T.sentence("plus", lang, a=names[a], b=names[b], c=names[a + b])


def _fact(rng: random.Random, lang: str) -> str:
    return rng.choice(FACTS)[0 if lang == "en" else 1]


def _words(rng: random.Random, lang: str) -> str:
    vocab = ENGLISH if lang == "en" else CHINESE
    if rng.random() < 0.5:
        return T.sentence("word", lang, word=rng.choice(vocab))
    return T.word_list([rng.choice(vocab) for _ in range(rng.randint(2, 6))], lang)


def paragraph(seed: int, lang: str, config: SceneConfig = SceneConfig()) -> str:
    """1–4 parts of random kinds; a task's prompt-and-answer sits on its own line.

    Scenes come from seeds derived from `seed`, so they stay in its split.
    """
    rng = random.Random(seed)
    out, prev_line = "", False
    for i in range(rng.randint(1, 4)):
        kind = rng.choice(KINDS)
        if kind in ("scene", "task"):
            text = (_scene if kind == "scene" else _task)(rng, lang, sample_scene(child_seed(seed, "scene", i), config))
        else:
            text = {"count": _count, "sequence": _sequence, "plus": _plus, "fact": _fact, "words": _words}[kind](rng, lang)
        if text is None:
            continue
        line = kind == "task"
        out += ("\n" if line or prev_line else T.SENTENCE_JOIN[lang]) if out else ""
        out, prev_line = out + text, line
    return out or _fact(rng, lang)


def corpus_record(seed: int, lang: str, config: SceneConfig = SceneConfig()) -> Record:
    """A text-only record: no images, an empty prompt, the paragraph as the answer."""
    return record("text", [], "", paragraph(seed, lang, config), lang, seed)


def iter_corpus(seed: int = 0, n: int | None = None, split: str = "train", lang: str | None = None,
                config: SceneConfig = SceneConfig()) -> Iterator[str]:
    """Paragraphs of the corpus, endlessly or `n` of them; `lang` None mixes English and Chinese."""
    index = 0
    while n is None or index < n:
        s = sample_seed("text", seed, index, split)
        yield paragraph(s, lang or random.Random(s).choice(T.LANGS), config)
        index += 1
