"""A small byte-level BPE in Qwen's format, trained on the synthetic corpus.

The ranks file is what `qwen.tiktoken` is for Qwen: `base64-token rank` lines, the 256 single
bytes first, then one token per merge in the order it was learnt. Text is split with Qwen's own
pattern, so the same `QwenTokenizer` code loads the file, and the special tokens follow the
ranks in the official order (`interface.special_tokens`).

Two choices keep the tokens meaningful for a tiny model:
- Chinese has no spaces, so Qwen's pattern leaves whole clauses as one piece and plain BPE
  would learn clause-sized tokens ("：一个中号的绿色箭头"). For training only, Chinese pieces
  are cut at the words of the synthetic world (longest match); merges then never cross a
  word, and tiktoken, which can only form learnt tokens, reads words at inference too.
- The texts are the corpus paragraphs, every task's prompt and answer, the ChatML scaffolding
  and each English word of the rendered-text lists in every letter case OCR draws, so each
  word the model reads or writes is one token.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import regex

from ..interface.chatml import DEFAULT_SYSTEM
from ..interface.tokenizer import PAT_STR
from ..synthetic import TASKS, iter_corpus, make_sample, sample_seed
from ..synthetic import templates
from ..synthetic.tasks import SCENE_TASKS, scene_text
from ..synthetic.vocab import COLOURS, DIGITS_ZH, NUMBERS_ZH, SHAPES, SIZES
from ..synthetic.words import CHINESE, ENGLISH

MAX_RANKS = 8192
CHAT_TEXTS = ("system\n" + DEFAULT_SYSTEM, "user\n", "assistant\n") + tuple(f"Picture {i}: " for i in range(1, 5))
_CJK = regex.compile(r"\p{Han}")
_PIECE = regex.compile(PAT_STR)


def task_text(task: str, seed: int, lang: str) -> str:
    """A task's prompt and answer; scene tasks skip rendering, which the tokenizer does not need."""
    if task in SCENE_TASKS:
        _, text = scene_text(task, seed, lang)
        return f"{text.prompt} {text.answer}"
    record = make_sample(task, seed, lang)
    return f"{record['prompt']} {record['answer']}"


def word_variants() -> Iterator[str]:
    """Each English word as OCR may draw it: lower, Capitalised and UPPER, at a line start or after a space."""
    for word in ENGLISH:
        for w in (word, word.capitalize(), word.upper()):
            yield f"{w} {w}"


def corpus_texts(n_paragraphs: int, n_per_task: int, seed: int = 0) -> Iterator[str]:
    """The tokenizer's training texts: chat scaffolding, word lists, corpus paragraphs, task texts."""
    yield from CHAT_TEXTS
    for _ in range(3):
        yield from word_variants()
    yield from iter_corpus(seed, n_paragraphs, split="train")
    for task in TASKS:
        if task == "text":
            continue
        for i in range(n_per_task):
            s = sample_seed(task, seed, i, "train")
            yield task_text(task, s, random.Random(s).choice(templates.LANGS))


@cache
def chinese_words() -> frozenset[str]:
    """The Chinese words of the synthetic world: rendered words, names of colours, shapes, sizes, numbers."""
    words = set(CHINESE) | set(NUMBERS_ZH) | set(DIGITS_ZH)
    words |= {c.zh for c in COLOURS} | {s.zh for s in SHAPES} | {s.zh for s in SIZES}
    words |= set(templates.POSITION["zh"].values()) | set(templates.OBJECT["zh"])
    return frozenset(words)


def segment(piece: str, words: frozenset[str]) -> list[str]:
    """Cut a piece before and after each Chinese word (longest match first); other text stays whole."""
    if not _CJK.search(piece):
        return [piece]
    longest = max(map(len, words))
    out, i = [], 0
    while i < len(piece):
        n = next((n for n in range(min(longest, len(piece) - i), 1, -1) if piece[i:i + n] in words), 1)
        chunk = piece[i:i + n]
        if n == 1 and out and not _CJK.match(chunk) and not _CJK.match(out[-1][-1]):
            out[-1] += chunk  # keep runs of non-Chinese characters together
        else:
            out.append(chunk)
        i += n
    return out


def pieces(texts: Iterable[str]) -> Iterator[str]:
    """Qwen's pre-tokenization, with Chinese pieces cut at words (training only)."""
    words = chinese_words()
    for text in texts:
        for piece in _PIECE.findall(text):
            yield from segment(piece, words)


def train_ranks(texts: Iterable[str], n_ranks: int = MAX_RANKS) -> dict[bytes, int]:
    """Byte-level BPE → {token bytes: rank}: 256 bytes, then merges in order, at most `n_ranks` in all."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=n_ranks, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  min_frequency=2, show_progress=False, special_tokens=[])
    tok.train_from_iterator(pieces(texts), trainer)
    decode = _byte_decoder()
    ranks = {bytes([b]): b for b in range(256)}
    for merged in _merges(tok):
        token = bytes(decode[c] for c in merged)
        if token not in ranks and len(ranks) < n_ranks:
            ranks[token] = len(ranks)
    return ranks


def _merges(tok) -> list[str]:
    """The learnt merges in order, each as the merged token's byte-level string."""
    import json

    merges = json.loads(tok.to_str())["model"]["merges"]
    return [m.replace(" ", "") if isinstance(m, str) else "".join(m) for m in merges]


def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-ins for bytes (what `ByteLevel` writes tokens with), inverted."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[chr(b)] = b
        else:
            out[chr(256 + extra)] = b
            extra += 1
    return out


def write_ranks(ranks: dict[bytes, int], path: str | Path) -> Path:
    """The `qwen.tiktoken` format: one `base64-token rank` line per token, by rank."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{base64.b64encode(t).decode()} {r}" for t, r in sorted(ranks.items(), key=lambda kv: kv[1])]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def build_tokenizer(path: str | Path, n_ranks: int = MAX_RANKS, n_paragraphs: int = 10000, n_per_task: int = 400,
                    seed: int = 0) -> Path:
    """Train on the synthetic corpus and write `qwen.tiktoken` at `path`."""
    if not 256 < n_ranks <= MAX_RANKS:
        raise ValueError(f"n_ranks must be in (256, {MAX_RANKS}], got {n_ranks}")
    return write_ranks(train_ranks(corpus_texts(n_paragraphs, n_per_task, seed), n_ranks), path)
