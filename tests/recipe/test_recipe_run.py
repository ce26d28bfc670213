"""The whole recipe at toy size: every phase runs, every stage is an official checkpoint that the
evaluation runners, the chat API and the demo take as they are."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from qwenvl import QwenVL
from qwenvl.checkpoint import load_model
from qwenvl.cli import demo
from qwenvl.config import QwenVLConfig
from qwenvl.interface import QwenTokenizer
from qwenvl.recipe.evaluate import EVAL_SETS, evaluate_run, table_markdown, write_eval_sets
from qwenvl.recipe.run import SUMMARY, run_recipe
from safetensors import safe_open

from recipe_testing import TINY

STAGES = [s.name for s in TINY.stages]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("recipe")
    run_recipe(out, recipe=TINY, progress=False)
    return out


def test_summary_times_every_phase(run_dir):
    summary = json.loads((run_dir / SUMMARY).read_text())
    assert list(summary["phases"]) == ["tokenizer", "lm", "clip", "reading", *STAGES]
    assert all(p["seconds"] >= 0 for p in summary["phases"].values())


@pytest.mark.parametrize("stage", TINY.stages, ids=STAGES)
def test_every_stage_is_an_official_bf16_checkpoint(run_dir, stage):
    path = run_dir / stage.name
    cfg = QwenVLConfig.load(path)
    assert cfg.vision.image_size == stage.image_size and cfg.torch_dtype == "bfloat16"
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        assert all(f.get_tensor(k).dtype == torch.bfloat16 for k in f.keys())
    generation = json.loads((path / "generation_config.json").read_text())
    assert generation["chat_format"] == ("chatml" if stage.fmt == "chat" else "raw")
    assert load_model(path).cfg.vision.image_start_id == QwenVL.from_pretrained(path).tokenizer.img_start_id
    assert QwenTokenizer.from_pretrained(path).image_tokens == cfg.adapter.n_queries != 256  # a span a query


def _weights(path, prefix):
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}


def test_stage3_keeps_the_vit_and_trains_the_llm(run_dir):
    vit2, vit3 = (_weights(run_dir / s, "transformer.visual.transformer.") for s in ("stage2", "stage3"))
    assert all(torch.equal(vit2[k], vit3[k]) for k in vit2)
    llm2, llm3 = (_weights(run_dir / s, "transformer.h.") for s in ("stage2", "stage3"))
    assert any(not torch.equal(llm2[k], llm3[k]) for k in llm2)


def test_stage1_keeps_the_llm(run_dir):
    llm1, llm2 = (_weights(run_dir / s, "transformer.h.") for s in ("stage1", "stage2"))
    vit1, vit2 = (_weights(run_dir / s, "transformer.visual.transformer.") for s in ("stage1", "stage2"))
    assert any(not torch.equal(llm1[k], llm2[k]) for k in llm1)  # stage 2 trains everything
    assert any(not torch.equal(vit1[k], vit2[k]) for k in vit1)


def test_chat_model_answers_in_chatml(run_dir):
    vl = QwenVL.from_pretrained(run_dir / "stage3")
    query = [{"image": Image.new("RGB", (64, 64), "red")}, {"text": "What colour is the circle? Answer:"}]
    answer, history = vl.chat(None, query, max_new_tokens=4)
    assert isinstance(answer, str) and len(history) == 1


def test_every_stage_is_scored_on_held_out_sets(run_dir, tmp_path):
    data = write_eval_sets(tmp_path / "sets", n=1)
    table = evaluate_run(run_dir, STAGES, data)
    assert set(table) == set(STAGES)
    assert all(set(scores) == {s.name for s in EVAL_SETS} for scores in table.values())
    assert table_markdown(table).count("\n") == len(STAGES) + 1


def test_demo_writes_pictures_and_report(run_dir, tmp_path):
    image = tmp_path / "mine.png"
    Image.new("RGB", (80, 60), "white").save(image)
    parser = argparse.ArgumentParser()
    demo.add_parser(parser)
    out = tmp_path / "demo"
    args = parser.parse_args(["--model", str(run_dir / "stage3"), "--image", str(image), "--out", str(out),
                              "--seed", "3"])
    assert args.run(args) == 0
    page = (out / "index.html").read_text()
    assert page.count("class=card") == len(demo.CASES) + len(demo.IMAGE_PROMPTS)
    assert len(list(out.glob("*.png"))) >= len(demo.CASES) + len(demo.IMAGE_PROMPTS)


def test_demo_judges_grounding_by_iou():
    rec = {"answer": "", "boxes": [{"box": [100, 100, 500, 500]}]}
    assert demo.judge("grounding", "<ref>x</ref><box>(120,110),(500,480)</box>", rec)
    assert not demo.judge("grounding", "<ref>x</ref><box>(400,400),(900,900)</box>", rec)
    assert not demo.judge("grounding", "no box here", rec)
    assert demo.judge("vqa_count", " Three ", {"answer": "three"})


READS_PICTURE = Path(__file__).resolve().parents[2] / "benchmarks" / "reads_picture.py"


def load_reads_picture():
    spec = importlib.util.spec_from_file_location("reads_picture", READS_PICTURE)
    reads = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reads)
    return reads


def test_reads_picture_compares_own_and_rolled_pictures(run_dir):
    out = subprocess.run([sys.executable, str(READS_PICTURE), "--model", str(run_dir / "stage3"), "--image-size", "56",
                          "--rows", "16", "--tasks", "vqa_colour", "grounding", "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.splitlines()[-1])
    assert set(report["results"]) == {"vqa_colour", "grounding"}
    for r in report["results"].values():
        assert r["own_loss"] > 0 and r["rolled_loss"] > 0 and 0 <= r["own_acc"] <= 1
        assert r["own_loss"] != r["rolled_loss"]  # the rolled pictures reach the model


def test_reads_picture_scores_each_answers_first_token(run_dir):
    from qwenvl.interface.tokenizer import QwenTokenizer
    from qwenvl.recipe.data import GroupStream, Mix

    reads = load_reads_picture()
    tokenizer = QwenTokenizer.from_pretrained(run_dir / "stage3")
    for fmt, task in [("chat", "vqa_colour"), ("pretrain", "vqa_colour"), ("chat", "grounding")]:
        stream = GroupStream(tokenizer, Mix({"scene": 1.0}, {task: 1.0}), fmt, 56, 4, 0, "t")
        batch, where = reads.held_out_batch(tokenizer, stream, task, 0, 4)
        for row, p in enumerate(where):
            ids = batch.input_ids[row].tolist()
            assert batch.targets[row, p] == ids[p + 1]  # position p predicts the decisive token
            before = tokenizer.decode(ids[:p + 1]).rstrip()
            if fmt == "chat" and task != "grounding":
                assert before.endswith("<|im_start|>assistant"), before[-40:]
                before = before.rsplit("<|im_end|>", 1)[0]  # the user's question
            assert before.endswith("<box>(" if task == "grounding" else ("Answer:", "回答：")), before[-40:]
            assert tokenizer.decode(ids[p + 1:p + 2]).strip()  # a word or a digit, not the frame


def test_reads_picture_refuses_bad_input(run_dir, tmp_path, monkeypatch):
    from qwenvl.interface.tokenizer import QwenTokenizer
    from qwenvl.recipe.data import Group, GroupStream, Mix

    for args, message in [(["--model", str(tmp_path / "none")], "does not exist"),
                          (["--model", str(run_dir / "stage3"), "--rows", "0"], "--rows must be at least 1")]:
        out = subprocess.run([sys.executable, str(READS_PICTURE), *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    reads = load_reads_picture()
    monkeypatch.setattr(reads, "make_group", lambda kind, seed, mix: Group(kind))  # no scene supports the task
    tokenizer = QwenTokenizer.from_pretrained(run_dir / "stage3")
    stream = GroupStream(tokenizer, Mix({"scene": 1.0}, {"vqa_colour": 1.0}), "chat", 56, 4, 0, "t")
    with pytest.raises(RuntimeError, match="too few held-out scenes"):
        reads.held_out_batch(tokenizer, stream, "vqa_colour", 0, 4)
