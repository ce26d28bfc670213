"""Multiple choice: ScienceQA-Img, AI2D, SEED-Bench (image dimensions) and MMBench.

As in the official eval_mm scripts, each option's letter (" A", " B", …) is appended to the
prompt and the option with the lowest mean loss over the letter's tokens is the answer.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ...interface import prompts
from ..metrics import predict_option
from .base import (
    Item,
    Scores,
    Task,
    check_unique,
    field_of,
    find_file,
    grouped_means,
    image_tag,
    locate,
    percent,
    read_json,
)

SEED_IMAGE_DIMENSIONS = range(1, 10)  # 10-12 are video questions
MAX_FIELD = 1 << 30  # an MMBench row holds a whole base64 image
MMBENCH_CIRCULAR = 1_000_000  # MMBench stores the k-th rotation of question i at index k * 1e6 + i
# pandas' default missing-value strings: the official converter reads the TSV with pandas, so an
# option spelled like one of these is dropped there and must be dropped here too.
PANDAS_NA = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
             "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}


def options_text(choices: tuple[str, ...]) -> str:
    return "\n".join(prompts.OPTION.format(letter=letter, text=text)
                     for letter, text in zip(prompts.OPTION_LETTERS, choices))


def with_context(item: Item) -> str:
    return prompts.CHOICE_WITH_CONTEXT.format(context=item.context or prompts.NO_CONTEXT, question=item.question,
                                              options=options_text(item.choices))


def no_context(item: Item) -> str:
    return prompts.CHOICE_NO_CONTEXT.format(question=item.question, options=options_text(item.choices))


def _check_choices(item: Item, where: str) -> Item:
    if not 2 <= len(item.choices) <= len(prompts.OPTION_LETTERS):
        raise ValueError(f"{where}: item {item.id} has {len(item.choices)} options; 2 to "
                         f"{len(prompts.OPTION_LETTERS)} are supported")
    if item.answer is None or not 0 <= item.answer < len(item.choices):
        raise ValueError(f"{where}: item {item.id} has no valid answer among its options")
    return item


def read_scienceqa(data: Path, images: Path | None, split: str = "test") -> list[Item]:
    """ScienceQA `problems.json` (id → problem); the questions of `split` that have an image."""
    path = find_file(data, "problems.json")
    root = images or path.parent
    items = []
    for pid, p in read_json(path).items():
        if p.get("split") != split or not p.get("image"):
            continue
        image = locate(root, f"images/{split}/{pid}/{p['image']}", f"{split}/{pid}/{p['image']}")
        items.append(_check_choices(Item(id=str(pid), images=(image,), question=p["question"],
                                         choices=tuple(p["choices"]), answer=p["answer"],
                                         context=p.get("hint") or "", group=p.get("subject", "")), str(path)))
    return items


def _ai2d_test_ids(folder: Path) -> set[str]:
    path = folder / "ai2d_test_ids.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: AI2D's test split is the image ids listed there")
    return {line.strip() for line in path.read_text().splitlines() if line.strip().isdigit()}


def read_ai2d(data: Path, images: Path | None) -> list[Item]:
    """AI2D folder: `questions/<image>.json` per diagram and `ai2d_test_ids.csv` naming the test images."""
    folder = Path(data)
    if not (folder / "questions").is_dir():
        raise FileNotFoundError(f"{folder} has no questions/ folder (the AI2D release layout)")
    root = images or folder
    test = _ai2d_test_ids(folder)
    items = []
    for path in sorted((folder / "questions").glob("*.json"), key=lambda p: p.name):
        doc = read_json(path)
        name = field_of(doc, "imageName", str(path))
        if Path(name).stem not in test:
            continue
        image = locate(root, f"images/{name}", name)
        for question, q in field_of(doc, "questions", str(path)).items():
            items.append(_check_choices(Item(id=q["questionId"], images=(image,), question=question,
                                             choices=tuple(q["answerTexts"]), answer=q["correctAnswer"]), str(path)))
    check_unique(items, folder)
    return items


def read_seed(data: Path, images: Path | None) -> list[Item]:
    """`SEED-Bench.json`: the image questions (dimensions 1-9); `data_id` is the image's file name."""
    path = find_file(data, "SEED-Bench.json")
    root = images or path.parent
    doc = read_json(path)
    dimensions = {v: k for k, v in doc.get("question_type", {}).items()}
    items = []
    for q in field_of(doc, "questions", str(path)):
        if q.get("question_type_id") not in SEED_IMAGE_DIMENSIONS:
            continue
        choices = tuple(q[f"choice_{c}"] for c in "abcd")
        items.append(_check_choices(Item(
            id=str(q["question_id"]), images=(locate(root, q["data_id"], f"SEED-Bench-image/{q['data_id']}"),),
            question=q["question"], choices=choices, answer="ABCD".find(q["answer"]),
            group=dimensions.get(q["question_type_id"], str(q["question_type_id"]))), str(path)))
    check_unique(items, path)
    return items


def read_mmbench(data: Path, images: Path | None) -> list[Item]:
    """The MMBench TSV (`mmbench_dev_20230712.tsv`): one row per question, images inline as base64.

    A row whose image is a short number points at the image of the row with that index.
    """
    path = find_file(data, "mmbench_dev_20230712.tsv")
    csv.field_size_limit(MAX_FIELD)
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    by_index = {r.get("index"): r for r in rows}
    items = []
    for row in rows:
        where = f"{path} index {row.get('index')}"
        image = field_of(row, "image", where)
        if len(image) < 64 and image.isdigit():
            image = field_of(by_index.get(image), "image", where)
        answer = row.get("answer", "")
        if answer in PANDAS_NA:
            raise ValueError(f"{where}: no answer (the test split is scored by the MMBench server)")
        choices = tuple(row[c] for c in "ABCD" if c in row and row[c] not in PANDAS_NA)
        index = int(field_of(row, "index", where))
        hint = row.get("hint", "")
        items.append(_check_choices(Item(
            id=str(index), images=("data:image/jpeg;base64," + image,), question=row["question"], choices=choices,
            answer="ABCD".find(answer), context="" if hint in PANDAS_NA else hint, group=row.get("category", ""),
            meta={"circular": index % MMBENCH_CIRCULAR}), where))
    check_unique(items, path)
    return items


def chosen(item: Item, predictions: dict[str, dict]) -> int | None:
    losses = predictions[item.id].get("losses")
    return None if losses is None else predict_option(losses)


def score_choice(items: list[Item], predictions: dict[str, dict]) -> Scores:
    """Accuracy of the lowest-loss option; items that failed to run count as wrong."""
    per_item = {i.id: float(chosen(i, predictions) == i.answer) for i in items}
    accuracy = percent(sum(per_item.values()) / len(items))
    return Scores({"accuracy": accuracy}, per_item, breakdown=grouped_means(items, per_item))


def score_mmbench(items: list[Item], predictions: dict[str, dict]) -> Scores:
    """Plain accuracy, and circular accuracy: a question counts only if all its rotations are right
    (the official mmbench_evaluation.py)."""
    scores = score_choice(items, predictions)
    circles: dict[int, bool] = {}
    for item in items:
        key = item.meta["circular"]
        circles[key] = circles.get(key, True) and scores.per_item[item.id] == 1.0
    metrics = {**scores.metrics, "circular_accuracy": percent(sum(circles.values()) / len(circles))}
    return Scores(metrics, scores.per_item, breakdown=scores.breakdown)


def choice_task(name: str, description: str, read, text, score=score_choice) -> Task:
    return Task(name, description, read, lambda item: image_tag(item.images[0]) + text(item),
                lambda item: text(item).lstrip("\n"), score, mode="choice")


TASKS = [
    choice_task("scienceqa_test_img", "ScienceQA test questions with an image (problems.json), option ranking",
                read_scienceqa, with_context),
    choice_task("ai2d_test", "AI2D test (questions/*.json + ai2d_test_ids.csv), option ranking", read_ai2d,
                no_context),
    choice_task("seed_bench_img", "SEED-Bench image dimensions 1-9 (SEED-Bench.json), option ranking",
                read_seed, no_context),
    choice_task("mmbench_dev", "MMBench dev (TSV with base64 images), option ranking, plain and circular",
                read_mmbench, with_context, score_mmbench),
]
