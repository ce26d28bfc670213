"""benchmarks/probe_lookup.py: where a model's grounding search fails, on held-out scenes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qwenvl.checkpoint import save_state
from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.model import QWenLMHeadModel
from qwenvl_testing import CHECKPOINT
from recipe_testing import tiny_config

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "probe_lookup.py"


def script():
    spec = importlib.util.spec_from_file_location("probe_lookup", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny random model with Qwen's tokenizer and a 4×4 query grid, saved as a checkpoint."""
    tokenizer = QwenTokenizer.from_pretrained(CHECKPOINT)
    torch.manual_seed(0)
    model = QWenLMHeadModel(tiny_config(tokenizer.vocab_size, tokenizer.img_start_id))
    path = tmp_path_factory.mktemp("tiny")
    save_state(model.state_dict(), model.cfg, path, source_dir=CHECKPOINT)
    return path


def test_the_probe_reports_the_search_and_both_sides_of_it_per_block(checkpoint):
    out = run("--model", str(checkpoint), "--rows", "16", "--layer", "0", "--head", "1", "--threads", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["rows"] == 16 and (report["layer"], report["head"]) == (0, 1)
    assert 0.0 <= report["find"]["top_in_target"] <= 1.0 and 0.0 < report["find"]["mass"] < 1.0
    for side in ("tokens", "phrase"):
        assert set(report[side]) == {"colour", "shape"}
        assert all(len(scores) == 1 for scores in report[side].values())  # one block


def test_found_is_the_top_image_token_and_the_mass_on_the_keys():
    found = script().found
    attention = torch.zeros(20)
    attention[[5, 6]] = 0.3  # image tokens 4..11; the target's cells 5 and 6
    attention[9] = 0.2
    attention[2] = 0.2  # a text position, not a candidate
    hit, mass = found(attention, [5, 6], 4, 8)
    assert hit and mass == pytest.approx(0.6)
    attention[9] = 0.35
    assert found(attention, [5, 6], 4, 8) == (False, pytest.approx(0.6))


def test_the_probe_phrase_names_one_colour_or_shape_in_either_language():
    named = script().named
    assert named("Find <ref>the big red circle</ref>", "colour") == "red"
    assert named("找到<ref>大的红色圆形</ref>", "shape") == "circle"
    assert named("Find <ref>the big object</ref>", "shape") is None


def test_a_missing_model_or_too_few_rows_is_refused(tmp_path, checkpoint):
    out = run("--model", str(tmp_path / "nothing"))
    assert out.returncode != 0 and "nothing" in out.stderr and "Traceback" not in out.stderr
    out = run("--model", str(checkpoint), "--rows", "2")
    assert out.returncode != 0 and "--rows must be at least 8" in out.stderr
    out = run("--model", str(checkpoint), "--rows", "8", "--layer", "1")
    assert out.returncode != 0 and "block 1, head 0 out of range" in out.stderr and "Traceback" not in out.stderr
