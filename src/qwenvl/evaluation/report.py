"""The human-readable side of a run: `report.md` with the scores, the counts, what could not be
parsed or run, and sample items with their images (predicted and true boxes drawn), the model's
answer and the references. Pictures are saved in `report_images/` next to the report."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from ..data.images import ImageError, load_image
from ..interface import prompts
from ..interface.draw import draw_grounding
from .tasks import Item, Scores, Task

REPORT = "report.md"
IMAGES = "report_images"
THUMBNAIL = 384
MAX_IMAGES = 4
MAX_LISTED = 30


def write_report(out: Path, task: Task, items: list[Item], predictions: dict[str, dict], scores: Scores,
                 results: dict, samples: int) -> Path:
    folder = out / IMAGES
    shutil.rmtree(folder, ignore_errors=True)  # pictures of an earlier report would be stale
    folder.mkdir(parents=True)
    lines = header(results) + problems(results, predictions) + ["## Samples", ""]
    for n, (item, reasons) in enumerate(pick_samples(items, predictions, scores, samples), 1):
        lines += sample(n, item, reasons, predictions[item.id], scores, task, folder)
    path = out / REPORT
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def header(results: dict) -> list[str]:
    s = results["settings"]
    run = (s["model"], s["data"], s["format"], s["shots"], results["items"], results["errors"],
           results["parse_failures"])
    lines = [f"# {results['task']}", "", results["description"], "",
             "| model | data | format | shots | items | errors | parse failures |", "|---|---|---|---|---|---|---|",
             "| " + " | ".join(str(v) for v in run) + " |", "",
             "## Scores", "", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in results["metrics"].items()]
    breakdown = results["breakdown"]
    if breakdown:
        columns = list(next(iter(breakdown.values())))
        lines += ["", "| group | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [f"| {group} | " + " | ".join(_number(values[c]) for c in columns) + " |"
                  for group, values in breakdown.items()]
    return lines + [""]


def problems(results: dict, predictions: dict[str, dict]) -> list[str]:
    """Parse failures and errors by id, so a formatting regression cannot hide inside a low score."""
    lines = []
    if results["parse_failure_ids"]:
        ids = results["parse_failure_ids"]
        lines += [f"## Parse failures: {len(ids)}", "", "Replies the metric could not read (scored as wrong): "
                  + ", ".join(f"`{i}`" for i in ids[:MAX_LISTED]) + (" …" if len(ids) > MAX_LISTED else ""), ""]
    if results["error_ids"]:
        ids = results["error_ids"]
        lines += [f"## Errors: {len(ids)}", "", "Items that could not be run (scored as wrong):", ""]
        lines += [f"- `{i}`: {_code(predictions[i]['error'])}" for i in ids[:MAX_LISTED]] + [""]
    return lines


def pick_samples(items: list[Item], predictions: dict, scores: Scores, n: int) -> list[tuple[Item, list[str]]]:
    """The first `n` items, then the first `n` parse failures and errors not already shown."""
    failures = set(scores.parse_failures)
    failed = [i for i in items if i.id in failures][:n]
    errors = [i for i in items if "error" in predictions[i.id]][:n]
    chosen: dict[str, tuple[Item, list[str]]] = {}
    for item in items[:n] + failed + errors:
        chosen.setdefault(item.id, (item, []))
    for item, reasons in chosen.values():
        reasons += [r for r, hit in (("parse failure", item.id in failures),
                                     ("error", "error" in predictions[item.id])) if hit]
    return list(chosen.values())


def sample(n: int, item: Item, reasons: list[str], prediction: dict, scores: Scores, task: Task,
           folder: Path) -> list[str]:
    score = scores.per_item.get(item.id)
    title = f"### {n}. `{item.id}`" + (f" — score {score:.2f}" if score is not None else "")
    lines = [title + "".join(f" — **{r}**" for r in reasons), ""]
    pictures = pictures_of(n, item, prediction, task, folder)
    if pictures:
        lines += [" ".join(f"![{label}]({IMAGES}/{name})" for label, name in pictures), ""]
    if item.context:
        lines.append(f"- context: {_code(item.context)}")
    if item.question:
        lines.append(f"- question: {_code(item.question)}")
    if item.choices:
        lines.append("- options: " + "; ".join(_option(item, k) for k in range(len(item.choices))))
    lines += answer_lines(item, prediction)
    return lines + [""]


def answer_lines(item: Item, prediction: dict) -> list[str]:
    if "error" in prediction:
        lines = [f"- error: {_code(prediction['error'])}"]
    elif "losses" in prediction:
        losses = ", ".join(f"{prompts.OPTION_LETTERS[k]} {v:.3f}" for k, v in enumerate(prediction["losses"]))
        lines = [f"- predicted: {_option(item, prediction['choice'])} (losses {losses})"]
    else:
        lines = [f"- predicted: {_code(prediction['text'])}"]
        if prediction.get("raw", "").strip() != prediction["text"]:
            lines.append(f"- raw reply: {_code(prediction['raw'])}")
    if item.answer is not None:
        lines.append(f"- true: {_option(item, item.answer)}")
    elif item.answers:
        shown = ", ".join(_code(a) for a in item.answers[:5])
        lines.append(f"- true: {shown}" + (f" (+{len(item.answers) - 5} more)" if len(item.answers) > 5 else ""))
    if item.box is not None:
        lines.append("- true box (pixels): " + ", ".join(f"{v:.1f}" for v in item.box))
    return lines


def pictures_of(n: int, item: Item, prediction: dict, task: Task, folder: Path) -> list[tuple[str, str]]:
    """Thumbnails of the item's images; for box tasks the first one twice: predicted boxes, true boxes."""
    saved = []
    for k, source in enumerate(item.images[:MAX_IMAGES]):
        try:
            image = load_image(source)
        except (ImageError, OSError):
            continue
        image.thumbnail((THUMBNAIL, THUMBNAIL))
        if k == 0 and task.boxes is not None:
            predicted, true = task.boxes(item, prediction)
            for label, boxes in (("predicted", predicted), ("true", true)):
                saved.append((label, _save(draw_grounding(image, boxes), folder, f"{n:03d}_{label}.png")))
        else:
            saved.append((f"image {k + 1}", _save(image, folder, f"{n:03d}_{k}.png")))
    return saved


def _save(image: Image.Image, folder: Path, name: str) -> str:
    image.convert("RGB").save(folder / name)
    return name


def _option(item: Item, k: int) -> str:
    return f"{prompts.OPTION_LETTERS[k]}. {_code(item.choices[k])}"


def _code(text: str, limit: int = 400) -> str:
    """Model text shown literally on one line: backticks and newlines would break the Markdown."""
    text = text if len(text) <= limit else text[:limit] + "…"
    return "`" + text.replace("`", "'").replace("\n", "⏎") + "`"


def _number(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
