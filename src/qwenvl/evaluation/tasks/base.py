"""What a benchmark is to the runner: items read from its public files, a prompt, a metric.

A `Task` is data plus small functions, registered by name in `tasks/__init__.py`; the runner
never branches on the benchmark. Items carry everything scoring and the report need, so the
predictions file only has to hold what the model said.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...interface import special_tokens as st
from ...interface.list_format import from_list_format


@dataclass(frozen=True)
class Item:
    """One question of a benchmark, with its references."""

    id: str
    images: tuple[str, ...]
    question: str = ""                  # the question, referring expression or synthetic prompt
    answers: tuple[str, ...] = ()       # reference answers or captions
    choices: tuple[str, ...] = ()       # multiple-choice options, in letter order
    answer: int | None = None           # index of the correct option
    context: str = ""                   # multiple-choice hint
    box: tuple[float, float, float, float] | None = None  # true box, pixel x1, y1, x2, y2
    size: tuple[int, int] | None = None  # (width, height) of the first image, when annotated
    group: str = ""                     # breakdown key: answer type, category, subtask…
    meta: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Scores:
    """Headline metrics on the paper's scale (percent; CIDEr x100); per-item values unscaled (the
    report shows them), and the ids of replies the metric could not parse."""

    metrics: dict[str, float]
    per_item: dict[str, float]
    parse_failures: tuple[str, ...] = ()
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A benchmark (or synthetic family): how to read it, ask it and score it.

    `base_prompt` is the full base-model text, image tags included (the paper's prompts);
    `chat_text` is the user's text after the pictures of a ChatML query. `mode` "generate"
    decodes greedily; "choice" ranks the options' letters by loss, as the official scripts do.
    """

    name: str
    description: str
    read: Callable[[Path, Path | None], list[Item]]
    base_prompt: Callable[[Item], str]
    chat_text: Callable[[Item], str]
    score: Callable[[list[Item], dict[str, dict]], Scores]
    mode: str = "generate"
    max_new_tokens: int = 10
    min_new_tokens: int = 0
    chat_max_new_tokens: int | None = None
    shot_answer: Callable[[Item], str] | None = None  # set where few-shot prompting is supported
    boxes: Callable[[Item, dict], tuple[list, list]] | None = None  # (predicted, true) grid boxes to draw

    def items(self, data: Path, images: Path | None = None) -> list[Item]:
        """`read`, with a record that lacks a field the format requires reported as such (the
        readers index records directly, so a malformed file would otherwise end in a KeyError)."""
        try:
            return self.read(data, images)
        except KeyError as e:
            raise ValueError(f"{data}: a record of {self.name} has no field {e.args[0]!r}") from None

    def new_tokens(self, fmt: str) -> int:
        return self.chat_max_new_tokens if fmt == "chat" and self.chat_max_new_tokens else self.max_new_tokens


# ---- prompts ------------------------------------------------------------------------------

def image_tag(source: str) -> str:
    return f"{st.IMG_START}{source}{st.IMG_END}"


def chat_query(item: Item, text: str) -> str:
    """The ChatML user text: the pictures in the official list format, then the task's text."""
    return from_list_format([{"image": src} for src in item.images]) + text


# ---- reading public files -----------------------------------------------------------------

def find_file(path: Path, *names: str) -> Path:
    """`path` itself when it is a file, else the first of `names` inside the folder `path`."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist")
    for name in names:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"{path} holds none of: {', '.join(names)}")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n} is not valid JSON: {e}") from None
    return rows


def locate(root: Path, *options: str) -> str:
    """The first of `options` (paths under `root`) that exists, else the first: benchmarks ship
    their images in slightly different folder layouts, and a missing image is reported later,
    once for all items that are actually run."""
    for option in options:
        if (root / option).is_file():
            return str(root / option)
    return str(root / options[0])


def field_of(row: dict, key: str, where: str):
    try:
        return row[key]
    except (KeyError, TypeError):
        raise ValueError(f"{where}: missing field {key!r}") from None


def most_common(answers: Sequence[str]) -> str:
    """The answer most annotators gave (the first such on ties): what a few-shot example shows."""
    return Counter(answers).most_common(1)[0][0]


def check_unique(items: Iterable[Item], source: Path) -> None:
    seen = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"{source}: item id {item.id!r} appears twice")
        seen.add(item.id)


# ---- scoring helpers ----------------------------------------------------------------------

def prediction_texts(items: list[Item], predictions: dict[str, dict]) -> list[str]:
    """The cleaned answer text per item; an item that failed to run answers ""."""
    return [predictions[item.id].get("text", "") for item in items]


def percent(value: float) -> float:
    return 100.0 * value


def grouped_means(items: list[Item], per_item: dict[str, float]) -> dict[str, dict[str, float]]:
    """Mean per-item score (percent) and count for each item group, when items have groups."""
    groups: dict[str, list[float]] = {}
    for item in items:
        if item.group:
            groups.setdefault(item.group, []).append(per_item[item.id])
    return {g: {"score": percent(sum(v) / len(v)), "items": len(v)} for g, v in sorted(groups.items())}
