"""General VQA: VQAv2 and OK-VQA (VQA API files), GQA, VizWiz and TextVQA, with the paper's
`<img>…</img>{question} Answer:` prompt and 10 new tokens at most."""

from __future__ import annotations

from pathlib import Path

from ...interface import prompts
from ..metrics import gqa_accuracy, vqa_accuracy
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
    most_common,
    percent,
    prediction_texts,
    read_json,
)


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise FileNotFoundError(f"{folder}: expected one file matching {pattern!r}, found "
                                f"{', '.join(p.name for p in found) or 'none'}")
    return found[0]


def read_vqa_api(data: Path, images: Path | None) -> list[Item]:
    """VQAv2 / OK-VQA: `*questions*.json` + `*annotations*.json` (a folder holding both, or the
    questions file with its annotations beside it); COCO images `COCO_<subtype>_<id:012d>.jpg`."""
    data = Path(data)
    questions_path = data if data.is_file() else _one(data, "*questions*.json")
    annotations_path = _one(questions_path.parent, "*annotations*.json")
    root = images or questions_path.parent
    questions = read_json(questions_path)
    subtype = field_of(questions, "data_subtype", str(questions_path))
    answers = {a["question_id"]: a for a in field_of(read_json(annotations_path), "annotations",
                                                      str(annotations_path))}
    items = []
    for q in field_of(questions, "questions", str(questions_path)):
        ann = answers.get(q["question_id"])
        if ann is None:
            raise ValueError(f"{annotations_path}: no annotation for question {q['question_id']}")
        name = f"COCO_{subtype}_{q['image_id']:012d}.jpg"
        items.append(Item(id=str(q["question_id"]), images=(locate(root, f"{subtype}/{name}", name),),
                          question=q["question"], answers=tuple(a["answer"] for a in ann["answers"]),
                          group=ann.get("answer_type", "")))
    check_unique(items, questions_path)
    return items


def read_gqa(data: Path, images: Path | None) -> list[Item]:
    """GQA questions JSON (`testdev_balanced_questions.json`): id → {imageId, question, answer}."""
    path = find_file(data, "testdev_balanced_questions.json")
    root = images or path.parent
    items = []
    for qid, q in read_json(path).items():
        image = field_of(q, "imageId", f"{path} question {qid}")
        items.append(Item(id=str(qid), images=(locate(root, f"images/{image}.jpg", f"{image}.jpg"),),
                          question=q["question"], answers=(q["answer"],),
                          group=q.get("types", {}).get("structural", "")))
    return items


def read_vizwiz(data: Path, images: Path | None) -> list[Item]:
    """VizWiz annotations (`val.json`): a list of {image, question, answers, answer_type}."""
    path = find_file(data, "val.json")
    root = images or path.parent
    items = []
    for row in read_json(path):
        name = field_of(row, "image", str(path))
        split = name.split("_")[1] if name.count("_") >= 2 else ""
        items.append(Item(id=name, images=(locate(root, f"{split}/{name}", name),), question=row["question"],
                          answers=tuple(a["answer"] for a in row["answers"]), group=row.get("answer_type", "")))
    check_unique(items, path)
    return items


def read_textvqa(data: Path, images: Path | None) -> list[Item]:
    """TextVQA (`TextVQA_0.5.1_val.json`): {data: [{question_id, image_id, question, answers}]}."""
    path = find_file(data, "TextVQA_0.5.1_val.json")
    root = images or path.parent
    items = []
    for row in field_of(read_json(path), "data", str(path)):
        image = row["image_id"]
        items.append(Item(id=str(row["question_id"]),
                          images=(locate(root, f"train_images/{image}.jpg", f"{image}.jpg"),),
                          question=row["question"], answers=tuple(row["answers"])))
    check_unique(items, path)
    return items


def score_vqa(items: list[Item], predictions: dict[str, dict]) -> Scores:
    result = vqa_accuracy(prediction_texts(items, predictions), [i.answers for i in items])
    per_item = {i.id: v for i, v in zip(items, result.per_item)}
    return Scores({"accuracy": percent(result.value)}, per_item, breakdown=grouped_means(items, per_item))


def score_gqa(items: list[Item], predictions: dict[str, dict]) -> Scores:
    result = gqa_accuracy(prediction_texts(items, predictions), [i.answers for i in items])
    per_item = {i.id: v for i, v in zip(items, result.per_item)}
    return Scores({"accuracy": percent(result.value)}, per_item, breakdown=grouped_means(items, per_item))


def base_prompt(item: Item) -> str:
    return image_tag(item.images[0]) + prompts.VQA.format(question=item.question)


def chat_text(item: Item) -> str:
    return prompts.VQA.format(question=item.question)


def shot_answer(item: Item) -> str:
    return most_common(item.answers)


def vqa_task(name: str, description: str, read, score=score_vqa, max_new_tokens: int = 10) -> Task:
    # Official evaluate_vqa.py: greedy, at least one new token.
    return Task(name, description, read, base_prompt, chat_text, score, max_new_tokens=max_new_tokens,
                min_new_tokens=1, shot_answer=shot_answer)


TASKS = [
    vqa_task("vqav2_val", "VQAv2 val (VQA API questions + annotations JSON), VQA accuracy", read_vqa_api),
    vqa_task("okvqa_val", "OK-VQA val (VQA API questions + annotations JSON), VQA accuracy", read_vqa_api),
    vqa_task("gqa_testdev", "GQA test-dev balanced (questions JSON), accuracy after the official clean-up",
             read_gqa, score_gqa),
    vqa_task("vizwiz_val", "VizWiz val (val.json), VQA accuracy", read_vizwiz),
    vqa_task("textvqa_val", "TextVQA val (TextVQA_0.5.1_val.json), VQA accuracy", read_textvqa),
]
