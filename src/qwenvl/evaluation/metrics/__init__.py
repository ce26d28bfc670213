"""Metrics of the Qwen-VL paper's benchmarks, agreeing with the official scorers number for number.

Pure functions over predictions and references; each returns the corpus value with per-item
values. Model calls and dataset loading live elsewhere.
"""

from .anls import anls, anls_item, levenshtein
from .cider import CiderScore, cider, cider_score, ptb_tokenize
from .exact_match import (
    exact_match,
    exact_match_accuracy,
    gqa_accuracy,
    gqa_postprocess,
)
from .grounding import GroundingScore, box_iou, parse_box, refexp_accuracy
from .multiple_choice import (
    MultipleChoiceScore,
    multiple_choice_accuracy,
    predict_option,
)
from .relaxed import relaxed_accuracy, relaxed_correctness
from .score import Score
from .vqa import vqa_accuracy, vqa_answer_accuracy
from .vqa_normalize import (
    normalize_prediction,
    process_digit_article,
    process_punctuation,
)

__all__ = [
    "CiderScore", "GroundingScore", "MultipleChoiceScore", "Score",
    "anls", "anls_item", "box_iou", "cider", "cider_score", "exact_match", "exact_match_accuracy",
    "gqa_accuracy", "gqa_postprocess", "levenshtein", "multiple_choice_accuracy",
    "normalize_prediction", "parse_box", "predict_option", "process_digit_article",
    "process_punctuation", "ptb_tokenize", "refexp_accuracy", "relaxed_accuracy",
    "relaxed_correctness", "vqa_accuracy", "vqa_answer_accuracy",
]
