"""benchmarks/llm_ceiling.py trains the LLM on perfect image tokens and scores held-out answers per task."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import torch

from qwenvl.model import QWenLMHeadModel
from qwenvl.recipe.dense import LATTICE, PATCH_CLASSES, patch_labels
from qwenvl.synthetic.scenes import SceneConfig, cell_owners, sample_scene
from recipe_testing import tiny_config

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "llm_ceiling.py"


def test_a_barely_trained_llm_answers_nothing():
    out = subprocess.run([sys.executable, str(SCRIPT), "--steps", "2", "--n", "8", "--threads", "1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout[out.stdout.index("{\n"):])
    assert report["steps"] == 2 and report["hidden"] == 256
    scores = report["exact_match"]
    assert set(scores) == {"vqa_colour", "vqa_shape", "vqa_count", "vqa_position", "grounding", "multi_image"}
    assert scores["grounding"] == 0.0  # a box of a dozen tokens is never guessed


def script():
    spec = importlib.util.spec_from_file_location("llm_ceiling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_perfect_tokens_tell_cells_apart_by_their_labels_alone():
    ceiling = script()
    scene = sample_scene(3, SceneConfig())
    labels = torch.tensor([patch_labels(scene, LATTICE)])  # background cells carry "no label" for the box kinds
    tokens = ceiling.PerfectTokens(32)(labels)[0]
    assert tokens.shape == (LATTICE * LATTICE, 32)
    owners = cell_owners(scene, LATTICE)
    same_object = [i for i, o in enumerate(owners) if o == max(owners)]  # the cells of the topmost object
    assert len(same_object) > 1 and -1 in owners
    # cells differ by their own place at least, so no two tokens are equal
    assert len({tuple(t.tolist()) for t in tokens}) == LATTICE * LATTICE
    # with the place labels equal, cells of one object are one token and a background cell another
    flat = labels.clone()
    flat[0, list(PATCH_CLASSES).index("col")] = 0
    flat[0, list(PATCH_CLASSES).index("row")] = 0
    tokens = ceiling.PerfectTokens(32)(flat)[0]
    assert all(torch.equal(tokens[i], tokens[same_object[0]]) for i in same_object)
    background = owners.index(-1)
    assert not torch.equal(tokens[background], tokens[same_object[0]])


def test_the_lookup_runs_and_its_detached_form_trains_the_head_alone():
    out = subprocess.run([sys.executable, str(SCRIPT), "--steps", "2", "--n", "4", "--threads", "1", "--lookup", "0.5",
                          "--detached"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout[out.stdout.index("{\n"):])
    assert report["lookup"] == 0.5 and report["detached"] is True
    ceiling = script()
    model = QWenLMHeadModel(tiny_config(64, 60))
    lookup = ceiling.DetachedLookup(model, 0, 1)
    ids = torch.randint(0, 60, (1, 6))
    mask = torch.ones(6, 6, dtype=torch.bool).tril()[None, None]
    model.transformer(ids, None, torch.arange(6)[None], mask)
    lookup.loss([[([4, 5], [1, 2])]]).backward()
    lookup.close()
    attn = model.transformer.h[0].attn.c_attn
    d, h = model.cfg.llm.head_dim, model.cfg.llm.num_attention_heads
    moved = attn.weight.grad.abs().sum(-1) > 0
    head_qk = torch.zeros_like(moved)
    head_qk[d:2 * d] = head_qk[(h + 1) * d:(h + 2) * d] = True  # head 1's q rows and k rows
    assert bool(moved[head_qk].all()) and not bool(moved[~head_qk].any())
    assert model.transformer.wte.weight.grad is None  # nothing before the block learns from it


def test_detached_without_a_lookup_is_refused():
    out = subprocess.run([sys.executable, str(SCRIPT), "--detached"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--detached changes the lookup: give its weight with --lookup" in out.stderr
