"""Held-out evaluation of the recipe's checkpoints through the evaluation runners.

The sets are written once by `synthetic.write_dataset` from the `test` split with a seed no
training stream and no test uses, so no picture was seen in training; each is scored by the
runner's synthetic family. Base checkpoints (stages 1-2) are asked with the raw prompt, the chat
model in ChatML: what each stage adds is the difference between rows of the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..synthetic import write_dataset
from ..synthetic.dataset import MANIFEST

EVAL_SEED = 31337


@dataclass(frozen=True)
class EvalSet:
    name: str
    family: str  # the runner's task (`evaluation.tasks.synthetic`)
    tasks: tuple[str, ...]  # synthetic tasks written, each n times
    metric: str  # the headline metric of the runner's results
    lang: str | None = None  # None: English and Chinese, drawn per sample
    target: float | None = None  # what the shipped chat model must reach (percent)


EVAL_SETS = (
    EvalSet("grounding", "synth_grounding", ("grounding",), "accuracy", target=85.0),
    EvalSet("ocr_en", "synth_ocr", ("ocr",), "exact_match", "en", target=85.0),
    EvalSet("ocr_zh", "synth_ocr", ("ocr",), "exact_match", "zh", target=70.0),
    EvalSet("vqa", "synth_vqa", ("vqa_colour", "vqa_shape", "vqa_count", "vqa_position"), "exact_match",
            target=90.0),
    EvalSet("multi_image", "synth_multi_image", ("multi_image",), "exact_match", target=80.0),
    EvalSet("caption", "synth_caption", ("caption",), "CIDEr"),
)


def write_eval_sets(root: str | Path, n: int, seed: int = EVAL_SEED, progress: bool = False) -> Path:
    """Each set's manifest and images under `root/NAME`, written once (an existing manifest is kept)."""
    root = Path(root)
    for s in EVAL_SETS:
        if not (root / s.name / MANIFEST).is_file():
            write_dataset(root / s.name, list(s.tasks), n, seed, split="test", lang=s.lang, progress=progress)
    return root


def evaluate_checkpoint(model_dir: str | Path, data_root: str | Path, out_dir: str | Path, limit: int | None = None,
                        batch_size: int = 8) -> dict:
    """Headline score per set, with every metric the runner gives (OCR's ANLS beside its exact
    match) and its breakdown, for one checkpoint."""
    from ..api import QwenVL
    from ..evaluation.runner import EvalSettings, run_eval

    vl = QwenVL.from_pretrained(model_dir, dtype="float32")
    scores = {}
    for s in EVAL_SETS:
        settings = EvalSettings(task=s.family, data=Path(data_root) / s.name, out=Path(out_dir) / s.name,
                                model=str(model_dir), limit=limit, batch_size=batch_size)
        results = run_eval(vl, settings)
        scores[s.name] = {"score": round(results["metrics"][s.metric], 2), "metric": s.metric,
                          "metrics": {k: round(v, 2) for k, v in results["metrics"].items()},
                          "items": results["items"], "breakdown": results["breakdown"]}
    return scores


def evaluate_run(run_dir: str | Path, stages: list[str], data_root: str | Path, limit: int | None = None) -> dict:
    """Every stage's scores, written to `run_dir/eval.json`."""
    run_dir = Path(run_dir)
    table = {name: evaluate_checkpoint(run_dir / name, data_root, run_dir / "eval" / name, limit) for name in stages}
    (run_dir / "eval.json").write_text(json.dumps(table, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return table


def table_markdown(table: dict) -> str:
    """Stages as rows, sets as columns, targets in the header."""
    head = [f"{s.name} ({s.metric}{f', target {s.target:g}' if s.target else ''})" for s in EVAL_SETS]
    lines = ["| stage | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for stage, scores in table.items():
        lines.append(f"| {stage} | " + " | ".join(f"{scores[s.name]['score']:.1f}" for s in EVAL_SETS) + " |")
    return "\n".join(lines)
