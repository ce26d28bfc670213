"""Every task's reader and scorer wired together: perfect answers score the maximum, wrong ones
zero, and unparsable replies are counted and shown in the report."""

from __future__ import annotations

import json

import pytest
from eval_fixtures import SAMPLES, sample
from eval_oracles_runs import Scripted, perfect, unparsable, wrong

from qwenvl.evaluation.runner import EvalSettings, evaluate
from qwenvl.evaluation.sharding import Shard
from qwenvl.evaluation.tasks import get_task

HEADLINE = {"flickr30k": "CIDEr", "nocaps": "CIDEr", "docvqa_val": "ANLS", "chartqa_test_human": "relaxed_accuracy",
            "chartqa_test_augmented": "relaxed_accuracy", "mme": "perception"}
CAPTIONS = ("flickr30k", "nocaps")


def run(task_name, tmp_path, answer, out="out"):
    task = get_task(task_name)
    data, images, _ = sample(task_name, tmp_path / "images")
    items = task.read(data, images)
    settings = EvalSettings(task=task_name, data=data, images=images, out=tmp_path / out, batch_size=2)
    return evaluate(task, items, settings, Scripted(task, answer), Shard())


@pytest.mark.parametrize("task", sorted(t for t in SAMPLES if t not in CAPTIONS))
def test_perfect_answers_score_full_marks_and_wrong_ones_zero(task, tmp_path):
    metric = HEADLINE.get(task, "accuracy")
    best = run(task, tmp_path, perfect, "best")
    worst = run(task, tmp_path, wrong, "worst")
    full = 400.0 if task == "mme" else 100.0  # MME: two perception subtasks in the sample, 200 each
    assert best["metrics"][metric] == pytest.approx(full)
    assert worst["metrics"][metric] == 0.0
    assert best["parse_failures"] == worst["parse_failures"] == 0 and best["errors"] == 0


def test_mme_scores_acc_and_acc_plus_per_subtask(tmp_path):
    def one_wrong(task, item):  # the first question of each image right, the second wrong
        return perfect(task, item) if item.id.endswith("/0") else wrong(task, item)

    results = run("mme", tmp_path, one_wrong)
    assert results["breakdown"]["existence"] == {"acc": 50.0, "acc_plus": 0.0, "score": 50.0, "items": 4}
    assert results["metrics"] == {"perception": 100.0, "cognition": 50.0}


def test_mmbench_circular_accuracy_needs_every_rotation_right(tmp_path):
    def miss_rotation(task, item):
        return wrong(task, item) if item.id == "1000000" else perfect(task, item)

    results = run("mmbench_dev", tmp_path, miss_rotation)
    assert results["metrics"] == {"accuracy": 75.0, "circular_accuracy": pytest.approx(200 / 3)}


@pytest.mark.parametrize("task", CAPTIONS)
def test_reference_captions_beat_wrong_ones(task, tmp_path):
    best = run(task, tmp_path, perfect, "best")["metrics"]["CIDEr"]
    assert best > 100.0 and run(task, tmp_path, wrong, "worst")["metrics"]["CIDEr"] == 0.0


@pytest.mark.parametrize("task, failures", [("refcoco_val", 3), ("mme", 8)])
def test_parse_failures_are_counted_listed_and_shown(task, failures, tmp_path):
    results = run(task, tmp_path, unparsable)
    assert results["parse_failures"] == failures and len(results["parse_failure_ids"]) == failures
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"## Parse failures: {failures}" in report
    assert "**parse failure**" in report and f"`{results['parse_failure_ids'][0]}`" in report
    assert json.loads((tmp_path / "out" / "results.json").read_text())["parse_failures"] == failures


def test_grounding_report_draws_predicted_and_true_boxes(tmp_path):
    run("refcoco_val", tmp_path, perfect)
    out = tmp_path / "out"
    report = (out / "report.md").read_text()
    assert "![predicted](report_images/001_predicted.png) ![true](report_images/001_true.png)" in report
    from PIL import Image
    predicted = Image.open(out / "report_images/001_predicted.png")
    plain = Image.open(tmp_path / "images/train2014/COCO_train2014_000000000009.jpg")
    assert predicted.size == plain.size and predicted.tobytes() != plain.convert("RGB").tobytes()
