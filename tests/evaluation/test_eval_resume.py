"""Interrupted runs resume to the same scores, and ranks split the items between them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from eval_fixtures import sample
from eval_oracles_runs import Scripted
from qwenvl_testing import CHECKPOINT

from qwenvl.evaluation.inference import ModelPredictor
from qwenvl.evaluation.predictions import PredictionStore, complete_rows
from qwenvl.evaluation.runner import EvalSettings, evaluate
from qwenvl.evaluation.sharding import Shard, wait_for
from qwenvl.evaluation.tasks import get_task

HERE = Path(__file__).resolve().parent


class Interrupted(Exception):
    pass


class Counting:
    """The real model predictor, counting the items it runs; optionally killed before batch `stop`."""

    def __init__(self, predictor, stop=None):
        self.predictor, self.stop, self.items, self.batches = predictor, stop, [], 0

    def __call__(self, items):
        self.batches += 1
        if self.batches == self.stop:
            raise Interrupted
        self.items += [i.id for i in items]
        return self.predictor(items)


def setup(vl, task_name, tmp_path, out, **extra):
    task = get_task(task_name)
    data, images, _ = sample(task_name, tmp_path / "images")
    items = task.read(data, images)
    settings = EvalSettings(task=task_name, data=data, images=images, out=tmp_path / out, format="base",
                            batch_size=1, max_new_tokens=5, **extra)
    return task, items, settings, ModelPredictor(vl, task, "base", max_new_tokens=5)


@pytest.mark.parametrize("task_name", ["mmbench_dev", "vqav2_val", "refcoco_val"])
def test_resume_after_interruption_gives_the_uninterrupted_scores(vl, task_name, tmp_path):
    task, items, settings, predictor = setup(vl, task_name, tmp_path, "whole")
    whole = evaluate(task, items, EvalSettings(**{**settings.__dict__, "batch_size": 4}), predictor, Shard())

    resumed_settings = EvalSettings(**{**settings.__dict__, "out": tmp_path / "resumed"})  # one item per batch
    first = Counting(predictor, stop=3)
    with pytest.raises(Interrupted):
        evaluate(task, items, resumed_settings, first, Shard())
    predictions = tmp_path / "resumed" / "predictions.rank0.jsonl"
    with open(predictions, "a") as f:  # a write cut short by the kill
        f.write('{"id": "' + items[-1].id + '", "te')
    assert len(complete_rows(predictions)) == 2 and not (tmp_path / "resumed" / "results.json").exists()

    second = Counting(predictor)
    resumed = evaluate(task, items, resumed_settings, second, Shard())
    assert first.items == [i.id for i in items[:2]] and second.items == [i.id for i in items[2:]]
    assert resumed["metrics"] == whole["metrics"]
    assert resumed["parse_failures"] == whole["parse_failures"] and resumed["items"] == len(items)
    before, after = PredictionStore(tmp_path / "whole", 0).load(), PredictionStore(tmp_path / "resumed", 0).load()
    for item in items:
        if task.mode == "choice":
            assert after[item.id]["choice"] == before[item.id]["choice"]
            assert after[item.id]["losses"] == pytest.approx(before[item.id]["losses"], rel=1e-5)
        else:
            assert after[item.id]["raw"] == before[item.id]["raw"]
    assert predictions.read_text().endswith("\n")  # the torn line was cut before appending
    # a finished run resumed again does no work and scores the same
    third = Counting(predictor)
    assert evaluate(task, items, resumed_settings, third, Shard())["metrics"] == whole["metrics"]
    assert third.items == []


def test_items_that_failed_are_retried_on_resume(tmp_path):
    task = get_task("gqa_testdev")
    data, images, _ = sample("gqa_testdev", tmp_path / "images")
    items = task.read(data, images)
    settings = EvalSettings(task="gqa_testdev", data=data, images=images, out=tmp_path / "out")
    store = PredictionStore(tmp_path / "out", 0)
    (tmp_path / "out").mkdir()
    store.append([{"id": items[0].id, "error": "disk hiccup"}, {"id": items[1].id, "text": "yes", "raw": "yes"}])
    again = Scripted(task)
    results = evaluate(task, items, settings, again, Shard())
    assert again.asked == [items[0].id, items[2].id] and results["errors"] == 0


def test_a_folder_of_other_settings_is_refused(tmp_path):
    task = get_task("vizwiz_val")
    data, images, _ = sample("vizwiz_val", tmp_path / "images")
    items = task.read(data, images)
    settings = EvalSettings(task="vizwiz_val", data=data, images=images, out=tmp_path / "out")
    evaluate(task, items, settings, Scripted(task), Shard())
    evaluate(task, items, EvalSettings(**{**settings.__dict__, "batch_size": 3, "limit": 2}), Scripted(task), Shard())
    with pytest.raises(ValueError, match=r"different run \(shots: 0 then, 2 now\)"):
        evaluate(task, items, EvalSettings(**{**settings.__dict__, "shots": 2}), Scripted(task), Shard())


def test_two_ranks_share_the_items_and_score_like_one(tmp_path):
    task = get_task("ocrvqa_test")
    data, images, _ = sample("ocrvqa_test", tmp_path / "images")
    items = task.read(data, images)
    single = evaluate(task, items, EvalSettings(task=task.name, data=data, images=images, out=tmp_path / "one"),
                      Scripted(task), Shard())
    settings = EvalSettings(task=task.name, data=data, images=images, out=tmp_path / "two", batch_size=2)
    rank1, rank0 = Scripted(task), Scripted(task)
    assert evaluate(task, items, settings, rank1, Shard(1, 2)) is None  # only rank 0 scores
    assert not (tmp_path / "two" / "results.json").exists()
    results = evaluate(task, items, settings, rank0, Shard(0, 2))
    assert rank0.asked == [i.id for i in items[0::2]] and rank1.asked == [i.id for i in items[1::2]]
    files = {p.name: [r["id"] for r in complete_rows(p)] for p in (tmp_path / "two").glob("predictions.*")}
    assert files == {"predictions.rank0.jsonl": rank0.asked, "predictions.rank1.jsonl": rank1.asked}
    assert results["metrics"] == single["metrics"] and results["items"] == len(items)


def test_rank_zero_waits_for_the_other_ranks_files(tmp_path):
    rows = {}

    def late_writer():
        time.sleep(0.2)
        rows["b"] = {"id": "b", "text": "x"}

    threading.Thread(target=late_writer).start()
    assert set(wait_for({"a", "b"}, lambda: dict(rows, a={"id": "a"}), poll_seconds=0.05)) == {"a", "b"}


def test_shard_from_torchrun_environment(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert Shard.from_env() == Shard(1, 3) and Shard(1, 3).select(list(range(7))) == [1, 4]
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(ValueError, match="rank 3 is not in a world of 3"):
        Shard.from_env()


def test_torchrun_with_two_processes(tmp_path):
    data, _, count = sample("mmbench_dev", tmp_path / "images")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parents[1] / "src")])}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(HERE / "eval_cli_entry.py"), "--model", str(CHECKPOINT), "--task", "mmbench_dev", "--data", str(data),
         "--out", str(out), "--format", "base", "--batch-size", "1"],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "mmbench_dev: accuracy" in run.stdout
    ids = [[r["id"] for r in complete_rows(out / f"predictions.rank{r}.jsonl")] for r in (0, 1)]
    assert sorted(ids[0] + ids[1]) == sorted(["0", "1000000", "1", "2"]) and len(ids[0]) == len(ids[1]) == 2
    assert json.loads((out / "results.json").read_text())["items"] == count
