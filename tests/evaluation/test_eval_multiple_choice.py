"""Ranked multiple choice against the transcribed Qwen-VL scoring loop, plus hand-worked cases."""

from __future__ import annotations

import random

import pytest
import torch
from eval_oracles import official
from eval_random_cases import choice_losses

from qwenvl.evaluation.metrics import multiple_choice_accuracy, predict_option


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_official_loop_on_random_losses(seed):
    losses, lengths, answers = choice_losses(random.Random(seed), 500)
    tensors = [torch.tensor(rows, dtype=torch.float32) for rows in losses]
    accuracy, predictions, option_losses = official("qwen_vl_evaluate_multiple_choice").score(tensors, lengths, answers)
    ours = multiple_choice_accuracy([t.tolist() for t in option_losses], answers)
    assert list(ours.predictions) == predictions
    assert ours.value == pytest.approx(accuracy, abs=1e-12)
    # log-likelihood sums rank the other way round
    summed = multiple_choice_accuracy([[-v for v in t.tolist()] for t in option_losses], answers, higher_is_better=True)
    assert list(summed.predictions) == predictions


def test_by_hand():
    # lowest loss wins; on a tie the first option, like torch.argmin
    assert predict_option([2.0, 1.5, 1.5, 3.0]) == 1
    assert predict_option([-3.2, -1.0, -1.0], higher_is_better=True) == 1
    score = multiple_choice_accuracy([[0.1, 0.9], [0.7, 0.2, 0.5], [1.0, 1.0]], [0, 2, 0])
    # picks 0 (right), 1 (wrong), 0 (right, by the tie rule)
    assert score.predictions == (0, 1, 0)
    assert score.per_item == (1.0, 0.0, 1.0)
    assert score.value == pytest.approx(2 / 3)


def test_rejects_unrankable_scores():
    with pytest.raises(ValueError):
        predict_option([0.5, float("nan")])
    with pytest.raises(ValueError):
        predict_option([])
