"""MME: yes/no questions in per-subtask folders, scored as MME's own calculation.py does.

The release folder holds one folder per subtask, in one of two layouts: `questions_answers_YN/`
text files beside `images/`, or the text files next to the images. Each text file belongs to the
image of the same name and holds two lines `question<TAB>Yes|No`.
"""

from __future__ import annotations

from pathlib import Path

from ...interface import prompts
from .base import Item, Scores, Task, image_tag, percent, prediction_texts

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork",
              "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
IMAGE_EXTS = (".jpg", ".png", ".jpeg")


def _image(root: Path, subtask: str, split_layout: bool, stem: str) -> str:
    folder = root / subtask / "images" if split_layout else root / subtask
    for ext in IMAGE_EXTS:
        if (folder / (stem + ext)).is_file():
            return str(folder / (stem + ext))
    return str(folder / (stem + IMAGE_EXTS[0]))


def read_mme(data: Path, images: Path | None) -> list[Item]:
    """Every known subtask folder under `data`; images under `images` (default `data`) in the same layout."""
    data = Path(data)
    root = images or data
    items = []
    for subtask in PERCEPTION + COGNITION:
        folder = data / subtask
        if not folder.is_dir():
            continue
        split_layout = (folder / "questions_answers_YN").is_dir()
        for path in sorted((folder / "questions_answers_YN" if split_layout else folder).glob("*.txt")):
            image = _image(root, subtask, split_layout, path.stem)
            for k, line in enumerate(l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()):
                question, sep, answer = line.strip().rpartition("\t")
                if not sep or answer.lower() not in ("yes", "no"):
                    raise ValueError(f"{path}: line {k + 1} is not 'question<TAB>Yes|No'")
                items.append(Item(id=f"{subtask}/{path.stem}/{k}", images=(image,), question=question,
                                  answers=(answer,), group=subtask, meta={"image": f"{subtask}/{path.stem}"}))
    if not items:
        raise FileNotFoundError(f"{data} holds no MME subtask folder ({', '.join(PERCEPTION + COGNITION)})")
    return items


def yes_no(reply: str) -> str:
    """MME's `parse_pred_ans`: 'yes'/'no' when the reply is one, or starts with one in its first
    four characters; 'other' (a parse failure, scored wrong) otherwise."""
    reply = reply.lower()
    if reply in ("yes", "no"):
        return reply
    prefix = reply[:4]
    return "yes" if "yes" in prefix else "no" if "no" in prefix else "other"


def score_mme(items: list[Item], predictions: dict[str, dict]) -> Scores:
    """Per subtask: acc over questions, acc+ over images (both questions right), score = both in
    percent summed; perception and cognition are the sums of their subtasks' scores."""
    labels = [yes_no(t) for t in prediction_texts(items, predictions)]
    per_item = {i.id: float(label == i.answers[0].lower()) for i, label in zip(items, labels)}
    breakdown = {}
    for subtask in PERCEPTION + COGNITION:
        part = [i for i in items if i.group == subtask]
        if not part:
            continue
        images: dict[str, bool] = {}
        for i in part:
            images[i.meta["image"]] = images.get(i.meta["image"], True) and per_item[i.id] == 1.0
        acc = percent(sum(per_item[i.id] for i in part) / len(part))
        acc_plus = percent(sum(images.values()) / len(images))
        breakdown[subtask] = {"acc": acc, "acc_plus": acc_plus, "score": acc + acc_plus, "items": len(part)}
    metrics = {"perception": sum(b["score"] for t, b in breakdown.items() if t in PERCEPTION),
               "cognition": sum(b["score"] for t, b in breakdown.items() if t in COGNITION)}
    failures = tuple(i.id for i, label in zip(items, labels) if label == "other")
    return Scores(metrics, per_item, failures, breakdown)


TASKS = [Task("mme", "MME perception and cognition (release folder of subtask folders), acc + acc+",
              read_mme, lambda item: image_tag(item.images[0]) + prompts.VQA.format(question=item.question),
              lambda item: item.question, score_mme, max_new_tokens=20, min_new_tokens=1)]
