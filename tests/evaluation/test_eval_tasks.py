"""Every task runner end to end with the golden checkpoint on its hand-made sample: the model is
asked, every item gets exactly one prediction, and scores, results and the report come out."""

from __future__ import annotations

import json
import math

import pytest
from eval_fixtures import SAMPLES, sample

from qwenvl.evaluation.predictions import PredictionStore
from qwenvl.evaluation.runner import EvalSettings, run_eval
from qwenvl.evaluation.sharding import Shard
from qwenvl.evaluation.tasks import get_task

METRICS = {"flickr30k": {"CIDEr"}, "nocaps": {"CIDEr"}, "docvqa_val": {"ANLS"},
           "chartqa_test_human": {"relaxed_accuracy"}, "chartqa_test_augmented": {"relaxed_accuracy"},
           "mmbench_dev": {"accuracy", "circular_accuracy"}, "mme": {"perception", "cognition"},
           **{t: {"accuracy", "accuracy_1000"} for t in SAMPLES if t.startswith("refcoco")}}
CHAT = ("vqav2_val", "refcoco_val", "mmbench_dev", "mme")


def evaluate_sample(vl, task_name, fmt, tmp_path, **settings):
    data, images, count = sample(task_name, tmp_path / "images")
    out = tmp_path / f"out-{fmt}"
    settings = EvalSettings(task=task_name, data=data, images=images, out=out, format=fmt, batch_size=2,
                            max_new_tokens=settings.pop("max_new_tokens", 4), **settings)
    return run_eval(vl, settings, Shard()), out, count


@pytest.mark.parametrize("task_name, fmt", [(t, "base") for t in sorted(SAMPLES)] + [(t, "chat") for t in CHAT])
def test_task_runs_on_its_sample_with_the_golden_checkpoint(vl, task_name, fmt, tmp_path):
    task = get_task(task_name)
    results, out, count = evaluate_sample(vl, task_name, fmt, tmp_path)
    assert results["items"] == count and results["errors"] == 0
    assert set(results["metrics"]) == METRICS.get(task_name, {"accuracy"})
    assert all(math.isfinite(v) and v >= 0 for v in results["metrics"].values())
    assert results["settings"]["format"] == fmt
    rows = PredictionStore(out, 0).load()
    assert len(rows) == count
    for row in rows.values():
        if task.mode == "choice":
            assert row["choice"] == row["losses"].index(min(row["losses"]))
            assert all(math.isfinite(v) and v > 0 for v in row["losses"])
        else:
            assert isinstance(row["text"], str) and isinstance(row["raw"], str)
    saved = json.loads((out / "results.json").read_text())
    assert saved["metrics"] == results["metrics"]
    report = (out / "report.md").read_text()
    assert report.startswith(f"# {task_name}") and "## Samples" in report
    assert all(f"| {name} |" in report for name in results["metrics"])
    assert len(list((out / "report_images").glob("*.png"))) >= min(count, 6)


def test_few_shot_run(vl, tmp_path):
    results, _, count = evaluate_sample(vl, "okvqa_val", "base", tmp_path, shots=1, seed=3)
    assert results["settings"]["shots"] == 1 and results["items"] == count


def test_an_undecodable_image_is_an_error_row_not_a_crash(vl, tmp_path):
    data, images, _ = sample("vizwiz_val", tmp_path / "images")
    (images / "val/VizWiz_val_00000001.jpg").write_bytes(b"not an image")
    settings = EvalSettings(task="vizwiz_val", data=data, images=images, out=tmp_path / "out", format="base",
                            batch_size=3, max_new_tokens=3)
    results = run_eval(vl, settings, Shard())
    assert results["items"] == 3 and results["errors"] == 1 and results["error_ids"] == ["VizWiz_val_00000001.jpg"]
    rows = PredictionStore(tmp_path / "out", 0).load()
    assert "error" in rows["VizWiz_val_00000001.jpg"] and "text" in rows["VizWiz_val_00000000.jpg"]
    assert "## Errors: 1" in (tmp_path / "out" / "report.md").read_text()


def test_missing_images_are_named_before_any_work(vl, tmp_path):
    data, _, _ = sample("textvqa_val", tmp_path / "images")
    settings = EvalSettings(task="textvqa_val", data=data, images=tmp_path / "elsewhere", out=tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"2 image\(s\) of textvqa_val not found: .*0054c91397f2fe05.jpg"):
        run_eval(vl, settings, Shard())
    assert not list((tmp_path / "out").glob("predictions*"))
