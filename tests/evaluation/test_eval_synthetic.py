"""The synthetic families read from a dataset written by `qwenvl.synthetic`, asked as training
asked them, and scored: the records' own answers score full marks."""

from __future__ import annotations

import pytest
from eval_oracles_runs import Scripted, perfect, wrong

from qwenvl.evaluation.prompting import build_prompt
from qwenvl.evaluation.runner import EvalSettings, evaluate, run_eval
from qwenvl.evaluation.sharding import Shard
from qwenvl.evaluation.tasks import TASKS, get_task
from qwenvl.evaluation.tasks.synthetic import FAMILIES
from qwenvl.synthetic import write_dataset
from qwenvl.training.formats import pretrain_sample

HEADLINE = {"synth_caption": "exact_match", "synth_vqa": "exact_match", "synth_grounding": "accuracy",
            "synth_grounded_caption": "box_recall", "synth_ocr": "ANLS", "synth_multi_image": "exact_match"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    tasks = [t for family in FAMILIES.values() for t in family]
    write_dataset(folder, tasks, n=3, seed=5, split="test", size=64, progress=False)
    return folder


def test_every_family_is_a_task():
    assert {t for t in TASKS if t.startswith("synth_")} == set(FAMILIES) == set(HEADLINE)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_reference_answers_score_full_marks(family, dataset, tmp_path):
    task = get_task(family)
    items = task.read(dataset, None)
    assert len(items) == 3 * len(FAMILIES[family]) and {i.group for i in items} == set(FAMILIES[family])
    settings = EvalSettings(task=family, data=dataset, out=tmp_path / "best")
    best = evaluate(task, items, settings, Scripted(task, perfect), Shard())
    assert best["metrics"][HEADLINE[family]] == pytest.approx(100.0)
    assert best["parse_failures"] == 0
    worst = evaluate(task, items, EvalSettings(task=family, data=dataset, out=tmp_path / "worst"),
                     Scripted(task, wrong), Shard())
    assert worst["metrics"][HEADLINE[family]] < 100.0 / len(items)


def test_base_prompts_are_the_training_prompts(dataset, tokenizer):
    """What the model saw before its answer in training is exactly what evaluation asks."""
    from qwenvl.evaluation.tasks.synthetic import read_synthetic
    from qwenvl.synthetic import read_manifest

    records = [r for r in read_manifest(dataset) if r["task"] in ("multi_image", "grounding", "region_caption")]
    for record in records:
        family = next(f for f, tasks in FAMILIES.items() if record["task"] in tasks)
        item = next(i for i in read_synthetic(dataset, None, family) if i.question == record["prompt"]
                    and list(i.images) == record["images"])
        trained = pretrain_sample(tokenizer, record, "prompt_answer", [(64, 64)] * len(record["images"]))
        asked = build_prompt(get_task(family), item, "base", tokenizer)
        assert trained.input_ids[:len(asked.ids)] == asked.ids and asked.images == record["images"]


@pytest.mark.parametrize("family", ["synth_grounding", "synth_multi_image"])
def test_golden_checkpoint_runs_the_family(vl, family, dataset, tmp_path):
    settings = EvalSettings(task=family, data=dataset, out=tmp_path / "out", format="base", batch_size=3,
                            max_new_tokens=4)
    results = run_eval(vl, settings, Shard())
    assert results["items"] == 3 and results["errors"] == 0
    assert (tmp_path / "out" / "report.md").read_text().count("### ") == 3
