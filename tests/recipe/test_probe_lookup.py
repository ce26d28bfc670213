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
    assert len(report["keyed_search"]) == 1 and 0.0 <= report["keyed_search"][0] <= 1.0


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
    assert named("Find <ref>the big object</ref>", "size") == "big"
    assert named("Find <ref>the star on the left</ref>", "place") == "left"
    assert named("找到<ref>下面的星形</ref>", "place") == "bottom"


def scenes_of_look_alikes(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens of 16 cells: the named object (colour c, shape s) on two, look-alikes sharing only its
    shape or only its colour on four each; the features one-hot colour and shape, with noise."""
    kinds = script().KINDS
    g = torch.Generator().manual_seed(seed)
    tokens, words, targets = 0.1 * torch.randn(rows, 16, 12, generator=g), [], torch.zeros(rows, 16, dtype=torch.bool)
    for r in range(rows):
        c, s = torch.randint(5, (2,), generator=g).tolist()
        dc, ds = (1 + torch.randint(4, (2,), generator=g)).tolist()  # how the look-alikes differ
        cells = torch.randperm(16, generator=g).tolist()
        for k, (colour, shape) in enumerate([(c, s)] * 2 + [(c, (s + ds) % 5)] * 4 + [((c + dc) % 5, s)] * 4):
            tokens[r, cells[k], colour] += 1.0
            tokens[r, cells[k], 6 + shape] += 1.0
        targets[r, cells[:2]] = True
        words.append([c, s, len(kinds["size"]), len(kinds["place"])])  # no size or place named
    return tokens, torch.tensor(words), targets


def test_the_keyed_search_finds_what_the_tokens_hold_and_not_what_they_lack():
    keyed_search = script().keyed_search
    tokens, words, targets = scenes_of_look_alikes(240, 0)
    assert keyed_search(tokens, words, targets) > 0.9  # colour and shape both needed, both there
    noise = torch.randn_like(tokens)
    assert keyed_search(noise, words, targets) < 0.4  # chance is 2 cells of 16


def test_a_missing_model_or_too_few_rows_is_refused(tmp_path, checkpoint):
    out = run("--model", str(tmp_path / "nothing"))
    assert out.returncode != 0 and "nothing" in out.stderr and "Traceback" not in out.stderr
    out = run("--model", str(checkpoint), "--rows", "2")
    assert out.returncode != 0 and "--rows must be at least 8" in out.stderr
    out = run("--model", str(checkpoint), "--rows", "8", "--layer", "1")
    assert out.returncode != 0 and "block 1, head 0 out of range" in out.stderr and "Traceback" not in out.stderr
