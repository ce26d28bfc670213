"""CIDEr-D: our wrapper against pycocoevalcap's COCOEvalCap path on COCO-format files, the PTB
tokenization it relies on, and CIDEr-D values worked out by hand. Needs Java (PTBTokenizer)."""

from __future__ import annotations

import json
import math
import random

import pytest
from eval_oracles import official
from eval_random_cases import caption_set

from qwenvl.evaluation.metrics import cider, cider_score, ptb_tokenize


def official_cider(tmp_path, predictions, references):
    """Write a COCO caption annotation file and a results file; score them as Qwen-VL does."""
    annotations = {"images": [{"id": i} for i in references],
                   "annotations": [{"image_id": i, "id": n, "caption": c}
                                   for n, (i, c) in enumerate((i, c) for i, refs in references.items() for c in refs)]}
    results = [{"image_id": i, "caption": c} for i, c in predictions.items()]
    (tmp_path / "annotations.json").write_text(json.dumps(annotations))
    (tmp_path / "results.json").write_text(json.dumps(results))
    return official("coco_caption").evaluate_cider(str(tmp_path / "annotations.json"), str(tmp_path / "results.json"))


def test_matches_coco_eval_cap_on_random_sets(tmp_path):
    predictions, references = caption_set(random.Random(0), 120)
    official_value, official_per_image = official_cider(tmp_path, predictions, references)
    ours = cider_score(predictions, references)
    assert ours.value == pytest.approx(official_value, abs=1e-12)
    assert ours.per_image == pytest.approx(official_per_image, abs=1e-12)
    assert round(ours.value, 4) == round(official_value, 4)
    assert 0.3 < ours.value < 8


def test_ptb_tokenization_by_hand():
    tokens = ptb_tokenize({1: ["A man's dog, running (fast)...", 'Two "big" dogs -- playing; at 3.5 p.m.!']})
    # lower-cased PTB tokens; punctuation tokens dropped, but the bracket tokens survive because
    # pycocoevalcap's drop list spells them upper-case ("-LRB-") and the output is lower-cased
    assert tokens == {1: ["a man 's dog running -lrb- fast -rrb-", "two big dogs playing at 3.5 p.m."]}


def test_java_line_breaks_stay_inside_their_caption():
    # pycocoevalcap alone would split "\r" into two lines and shift image 2's caption onto image 1
    assert ptb_tokenize({1: ["a man\rriding\u2028a horse"], 2: ["next one"]}) == {1: ["a man riding a horse"], 2: ["next one"]}


def test_cider_by_hand():
    # Two images, so idf = log(2) - log(df). "a" is in both images' references: weight 0;
    # "cat", "a cat" (and "dog", "a dog") get log 2. A perfect match scores cosine 1 on 1- and
    # 2-grams and 0 on the absent 3- and 4-grams: 10 * (1 + 1 + 0 + 0) / 4 = 5.
    references = {1: ["a cat"], 2: ["a dog"]}
    assert cider({1: "A cat.", 2: "A dog!"}, references) == pytest.approx(5.0)
    # predicting "a cat" for image 2 shares only the 0-weight "a": 0, so the mean is 2.5
    assert cider({1: "a cat", 2: "a cat"}, references) == pytest.approx(2.5)


def test_cider_length_penalty_by_hand():
    # Image 1: "cat cat" vs "cat". Unigram vectors (2 log2) and (log2): cosine with clipping
    # min(2 log2, log2) * log2 / (2 log2 * log2) = 0.5; the bigram "cat cat" is absent from the
    # reference: 0. Lengths (counted in bigrams) differ by 1: penalty exp(-1 / (2 * 6^2)).
    # Score 10 * 0.5 * exp(-1/72) / 4. Image 2: "dog" vs "dog": 10 * 1 / 4 = 2.5.
    image1 = 10 * 0.5 * math.exp(-1 / 72) / 4
    score = cider_score({1: "cat cat", 2: "dog"}, {1: ["cat"], 2: ["dog"]})
    assert score.per_image == pytest.approx({1: image1, 2: 2.5})
    assert score.value == pytest.approx((image1 + 2.5) / 2)


def test_rejects_mismatched_images():
    with pytest.raises(ValueError):
        cider({1: "a cat"}, {1: ["a cat"], 2: ["a dog"]})
    with pytest.raises(ValueError):
        cider({1: "a cat"}, {1: []})
