"""Fine-tuning samples: the official label mask, token for token, from both JSON formats."""

from __future__ import annotations

import pytest

from qwenvl.interface.chatml import DEFAULT_SYSTEM
from qwenvl.training.samples import IGNORE
from qwenvl.training.sft import llava_conversation, sft_sample


def test_golden_sft_cases_reproduced_exactly(qwen_tokenizer, golden):
    assert len(golden["sft"]) >= 2
    for case in golden["sft"]:
        sample = sft_sample(qwen_tokenizer, case["conversation"], case["system"], max_len=case["max_len"])
        assert sample.input_ids == case["input_ids"]
        assert sample.labels == case["labels"]
        assert sum(t != qwen_tokenizer.eod_id for t in sample.input_ids) == case["n_nonpad"]


def test_unpadded_sample_is_the_padded_one_without_padding(qwen_tokenizer, golden):
    case = golden["sft"][0]
    sample = sft_sample(qwen_tokenizer, case["conversation"], case["system"])
    n = case["n_nonpad"]
    assert sample.input_ids == case["input_ids"][:n] and sample.labels == case["labels"][:n]
    assert sample.images == ["assets/demo.jpeg"]


def test_only_answers_and_control_tokens_are_supervised(qwen_tokenizer):
    conv = [{"from": "user", "value": "Hi"}, {"from": "assistant", "value": "Hello there"}]
    sample = sft_sample(qwen_tokenizer, conv, DEFAULT_SYSTEM)
    supervised = qwen_tokenizer.decode([t for t in sample.labels if t != IGNORE])
    assert supervised == "<|im_start|><|im_end|>\n<|im_start|><|im_end|>\n<|im_start|>Hello there<|im_end|>\n"


def test_a_leading_assistant_turn_is_dropped_as_officially(qwen_tokenizer):
    conv = [{"from": "assistant", "value": "ignored"}, {"from": "user", "value": "Hi"},
            {"from": "assistant", "value": "Hello"}]
    assert sft_sample(qwen_tokenizer, conv).input_ids == sft_sample(qwen_tokenizer, conv[1:]).input_ids


def test_bad_roles_are_refused(qwen_tokenizer):
    with pytest.raises(ValueError, match="from"):
        sft_sample(qwen_tokenizer, [{"from": "system", "value": "x"}])


def test_llava_records_become_official_ones(qwen_tokenizer):
    llava = {"image": "coco/1.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat is this?"}, {"from": "gpt", "value": "A cat."},
        {"from": "human", "value": "Colour?"}, {"from": "gpt", "value": "Grey."}]}
    official = [{"from": "user", "value": "Picture 1: <img>coco/1.jpg</img>\nWhat is this?"},
                {"from": "assistant", "value": "A cat."}, {"from": "user", "value": "Colour?"},
                {"from": "assistant", "value": "Grey."}]
    assert llava_conversation(llava) == official
    a, b = sft_sample(qwen_tokenizer, llava_conversation(llava)), sft_sample(qwen_tokenizer, official)
    assert (a.input_ids, a.labels, a.images) == (b.input_ids, b.labels, b.images) and a.images == ["coco/1.jpg"]


def test_llava_placeholder_at_the_end_and_several_images():
    record = {"image": ["a.jpg", "b.jpg"], "conversations": [
        {"from": "human", "value": "Compare\n<image>"}, {"from": "gpt", "value": "ok"},
        {"from": "human", "value": "<image>\nAnd now?"}, {"from": "gpt", "value": "fine"}]}
    turns = llava_conversation(record)
    assert turns[0]["value"] == "Picture 1: <img>a.jpg</img>\nCompare"
    assert turns[2]["value"] == "Picture 2: <img>b.jpg</img>\nAnd now?"
    with pytest.raises(ValueError, match="placeholder"):
        llava_conversation({"image": "a.jpg", "conversations": [{"from": "human", "value": "no image"}]})
