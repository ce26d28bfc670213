"""One evaluation run: read the task's items, predict this rank's pending share, and on rank 0
wait for every rank, score, and write `results.json` and the report.

The output folder is the run's state: `run.json` (what was asked, checked on resume), the
per-rank prediction files, then the results and the report. Rerunning the same command resumes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .inference import ModelPredictor, Predictor
from .predictions import PredictionStore
from .prompting import ShotPicker, resolve_format
from .report import write_report
from .sharding import Shard, wait_for
from .tasks import Item, Task, get_task

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class EvalSettings:
    task: str
    data: Path
    out: Path
    model: str = ""
    images: Path | None = None
    format: str = "auto"  # auto | base | chat
    limit: int | None = None
    batch_size: int = 8
    shots: int = 0
    shots_data: Path | None = None
    seed: int = 0
    max_new_tokens: int | None = None
    samples: int = 6  # items shown in the report (plus parse failures and errors)

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")

    def signature(self) -> dict:
        """What decides the predictions: a resumed run must ask the same (limit and batch size may change)."""
        paths = ("data", "model", "images", "shots_data")  # absolute: a resume may start from another folder
        signature = {k: getattr(self, k) for k in ("task", *paths, "format", "shots", "seed", "max_new_tokens")}
        return {k: str(Path(v).resolve()) if k in paths and v else v for k, v in signature.items()}


def load_items(task: Task, settings: EvalSettings) -> list[Item]:
    items = task.items(Path(settings.data), settings.images and Path(settings.images))
    if not items:
        raise ValueError(f"{settings.data}: no items for task {task.name}")
    return items[:settings.limit] if settings.limit else items


def shot_picker(task: Task, settings: EvalSettings) -> ShotPicker | None:
    """In-context examples from `--shots-data` (a file of the same format), else from the items' own file."""
    if not settings.shots:
        return None
    if task.shot_answer is None:
        raise ValueError(f"task {task.name} has no few-shot prompt; run it with --shots 0")
    source = settings.shots_data or settings.data  # read whole: --limit cuts the questions, not the examples
    return ShotPicker(task.items(Path(source), settings.images and Path(settings.images)), settings.shots, settings.seed)


def run_eval(vl, settings: EvalSettings, shard: Shard | None = None) -> dict | None:
    """The whole job for one process with a loaded model; the results on rank 0, None elsewhere."""
    task = get_task(settings.task)
    settings = dataclasses.replace(settings, format=resolve_format(settings.format, vl.generation_config.chat_format))
    items = load_items(task, settings)
    predictor = ModelPredictor(vl, task, settings.format, shot_picker(task, settings), settings.max_new_tokens)
    return evaluate(task, items, settings, predictor, shard or Shard.from_env())


def evaluate(task: Task, items: list[Item], settings: EvalSettings, predict: Predictor, shard: Shard) -> dict | None:
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    check_run(out, settings.signature(), shard)
    store = PredictionStore(out, shard.rank)
    store.cut_partial_line()
    done = store.done_ids()
    pending = [item for item in shard.select(items) if item.id not in done]
    check_images(pending, task)
    with tqdm(total=len(pending), desc=f"{task.name} rank {shard.rank}/{shard.world}", unit="item") as bar:
        for start in range(0, len(pending), settings.batch_size):
            batch = pending[start:start + settings.batch_size]
            store.append(predict(batch))
            bar.update(len(batch))
    if shard.rank != 0:
        return None
    predictions = wait_for({item.id for item in items}, store.load)
    scores = task.score(items, predictions)
    results = summary(task, items, predictions, scores, settings)
    write_json(out / RESULTS_FILE, results)
    write_report(out, task, items, predictions, scores, results, settings.samples)
    return results


def check_run(out: Path, signature: dict, shard: Shard) -> None:
    """Refuse to mix predictions of different settings in one folder; rank 0 records a new run."""
    path = out / RUN_FILE
    if path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        changed = {k: (recorded.get(k), v) for k, v in signature.items() if recorded.get(k) != v}
        if changed:
            detail = "; ".join(f"{k}: {old!r} then, {new!r} now" for k, (old, new) in changed.items())
            raise ValueError(f"{out} holds predictions of a different run ({detail}); "
                             "use another --out folder or delete it")
    elif shard.rank == 0:
        write_json(path, signature)


def check_images(items: list[Item], task: Task) -> None:
    """Missing image files are a setup problem: name them before any work is done."""
    missing = sorted({src for item in items for src in item.images
                      if not src.startswith("data:") and not os.path.isfile(src)})
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise FileNotFoundError(f"{len(missing)} image(s) of {task.name} not found: {shown} "
                                "(point --images at the folder holding them)")


def summary(task: Task, items: list[Item], predictions: dict, scores, settings: EvalSettings) -> dict:
    errors = [item.id for item in items if "error" in predictions[item.id]]
    return {
        "task": task.name,
        "description": task.description,
        "metrics": scores.metrics,
        "items": len(items),
        "errors": len(errors),
        "parse_failures": len(scores.parse_failures),
        "breakdown": scores.breakdown,
        "settings": {**settings.signature(), "limit": settings.limit, "batch_size": settings.batch_size},
        "error_ids": errors,
        "parse_failure_ids": list(scores.parse_failures),
    }


def write_json(path: Path, value) -> None:
    """Written whole or not at all: a reader never sees half a file."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
