"""The shipped default model: a small official-format chat checkpoint whose card tells the truth.

Its card (`eval.json`, the recipe's held-out table row for the chat model) is checked on sets
drawn from the `test` split with a seed no training stream, no other test and the card itself
used: each accuracy must fall within three binomial standard errors (plus 5 points) of the card's,
CIDEr within half to one and a half times it.
"""

from __future__ import annotations

import json
import math

import pytest

from qwenvl.checkpoint import load_model
from qwenvl.default_model import default_model_path
from qwenvl.recipe.evaluate import EVAL_SEED, EVAL_SETS, evaluate_checkpoint, write_eval_sets

FRESH_SEED = 271828  # the card used EVAL_SEED
N = 24  # pictures per synthetic task


@pytest.fixture(scope="module")
def card():
    return json.loads((default_model_path() / "eval.json").read_text(encoding="utf-8"))


def test_the_default_model_is_a_small_official_chat_checkpoint():
    path = default_model_path()
    assert sum(f.stat().st_size for f in path.iterdir()) <= 25 * 2**20
    model = load_model(path)  # strict: every official key present, none unexpected
    assert model.cfg.vision.image_size == 224
    assert json.loads((path / "generation_config.json").read_text())["chat_format"] == "chatml"


def test_the_card_scores_hold_on_a_fresh_held_out_seed(tmp_path, card):
    assert FRESH_SEED != EVAL_SEED
    assert set(card) == {s.name for s in EVAL_SETS}
    scores = evaluate_checkpoint(default_model_path(), write_eval_sets(tmp_path / "data", N, seed=FRESH_SEED),
                                 tmp_path / "eval")
    assert {"ANLS", "exact_match"} <= set(scores["ocr_en"]["metrics"])  # how near a reading is, not only if exact
    for s in EVAL_SETS:
        assert scores[s.name]["metrics"][s.metric] == scores[s.name]["score"]
        got, claimed = scores[s.name]["score"], card[s.name]["score"]
        if s.metric == "CIDEr":
            assert 0.5 * claimed <= got <= 1.5 * claimed, (s.name, got, claimed)
        else:
            p = claimed / 100
            tolerance = 300 * math.sqrt(p * (1 - p) / scores[s.name]["items"]) + 5
            assert abs(got - claimed) <= tolerance, (s.name, got, claimed, tolerance)
