"""Text-rich images: DocVQA (ANLS), ChartQA (relaxed accuracy) and OCR-VQA (exact match), with
the VQA prompt and up to 100 new tokens, as the official evaluate_vqa.py runs them."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from urllib.parse import urlparse

from ..metrics import anls, exact_match_accuracy, relaxed_accuracy
from .base import (
    Item,
    Scores,
    check_unique,
    field_of,
    find_file,
    grouped_means,
    locate,
    percent,
    prediction_texts,
    read_json,
)
from .vqa import vqa_task

OCRVQA_SPLITS = {"train": 1, "val": 2, "test": 3}


def read_docvqa(data: Path, images: Path | None) -> list[Item]:
    """DocVQA (`val_v1.0.json`): {data: [{questionId, question, image: "documents/….png", answers}]}."""
    path = find_file(data, "val_v1.0.json")
    root = images or path.parent
    items = []
    for row in field_of(read_json(path), "data", str(path)):
        image = row["image"]
        items.append(Item(id=str(row["questionId"]), images=(locate(root, image, Path(image).name),),
                          question=row["question"], answers=tuple(row["answers"])))
    check_unique(items, path)
    return items


def read_chartqa(data: Path, images: Path | None, default: str = "test_human.json") -> list[Item]:
    """ChartQA (`test_human.json` / `test_augmented.json`): [{imgname, query, label}], charts in png/."""
    path = find_file(data, default)
    root = images or path.parent
    items = []
    for n, row in enumerate(read_json(path)):
        name = field_of(row, "imgname", f"{path} row {n}")
        items.append(Item(id=f"{path.stem}-{n}", images=(locate(root, f"png/{name}", name),),
                          question=row["query"], answers=(str(row["label"]),)))
    return items


def read_ocrvqa(data: Path, images: Path | None, split: str) -> list[Item]:
    """OCR-VQA (`dataset.json`): book id → {imageURL, questions, answers, split (1/2/3)}; images
    saved as `<id><ext of the URL>` (the dataset's download script)."""
    path = find_file(data, "dataset.json")
    root = images or path.parent
    items = []
    for book, row in read_json(path).items():
        if row.get("split") != OCRVQA_SPLITS[split]:
            continue
        ext = Path(urlparse(row.get("imageURL", "")).path).suffix or ".jpg"
        image = locate(root, f"images/{book}{ext}", f"{book}{ext}")
        for k, (question, answer) in enumerate(zip(row["questions"], row["answers"])):
            items.append(Item(id=f"{book}-{k}", images=(image,), question=question, answers=(answer,),
                              group=row.get("genre", "")))
    check_unique(items, path)
    return items


def _scorer(metric, name: str):
    def score(items: list[Item], predictions: dict[str, dict]) -> Scores:
        result = metric(prediction_texts(items, predictions), [list(i.answers) for i in items])
        per_item = {i.id: v for i, v in zip(items, result.per_item)}
        return Scores({name: percent(result.value)}, per_item, breakdown=grouped_means(items, per_item))
    return score


TASKS = [
    vqa_task("docvqa_val", "DocVQA val (val_v1.0.json), ANLS", read_docvqa, _scorer(anls, "ANLS"), 100),
    vqa_task("chartqa_test_human", "ChartQA test, human questions (test_human.json), relaxed accuracy",
             read_chartqa, _scorer(relaxed_accuracy, "relaxed_accuracy"), 100),
    vqa_task("chartqa_test_augmented", "ChartQA test, augmented questions (test_augmented.json), relaxed "
             "accuracy", partial(read_chartqa, default="test_augmented.json"),
             _scorer(relaxed_accuracy, "relaxed_accuracy"), 100),
    vqa_task("ocrvqa_val", "OCR-VQA val (dataset.json split 2), exact match", partial(read_ocrvqa, split="val"),
             _scorer(exact_match_accuracy, "accuracy"), 100),
    vqa_task("ocrvqa_test", "OCR-VQA test (dataset.json split 3), exact match", partial(read_ocrvqa, split="test"),
             _scorer(exact_match_accuracy, "accuracy"), 100),
]
