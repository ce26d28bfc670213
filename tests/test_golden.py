"""Parity with the official implementation on the golden checkpoint (../shared/golden)."""

from __future__ import annotations

import pytest
import torch

from qwenvl_testing import GOLDEN
from qwenvl.interface import make_context, to_list_format


def test_special_token_ids(tokenizer, golden):
    for token, expected in golden["special_token_ids"].items():
        assert tokenizer.special_tokens[token] == expected, token


def test_tokenizer_ids_and_decodes(tokenizer, golden):
    for case in golden["tokenizer"]:
        assert tokenizer.encode(case["text"]) == case["ids"], case["text"]
        assert tokenizer.decode(case["ids"]) == case["decoded"]


def test_to_list_format(golden):
    text = "<img>a.jpg</img>Find <ref>the cat</ref><box>(1,2),(300,400)</box> now"
    assert to_list_format(text) == golden["to_list_format"]


def test_vision_pixels_and_features(vl, golden_tensors):
    pixels = vl.pixels([GOLDEN / "apple.jpeg"])
    assert (pixels[0] - golden_tensors["vision.pixels"]).abs().max() <= 1e-6
    with torch.no_grad():
        features = vl.model.encode_images(golden_tensors["vision.pixels"][None])[0]
    err = (features - golden_tensors["vision.features"]).abs().max().item()
    print(f"vision features max abs diff {err:.3e}")
    assert err <= 1e-4


def _prompt(case, tokenizer):
    if case["name"] == "text":
        return case["ids"], None
    history = [(case["history_query"], case["history_response"])] if "history_query" in case else case["history"]
    raw, ids = make_context(tokenizer, case["query"], history, case["system"])
    assert len(ids) == case["ids_len"]
    return ids, [GOLDEN / name for name in case["images"]]


@pytest.mark.parametrize("name", ["text", "chat1", "chat2"])
def test_logits(vl, golden_case, golden_tensors, name):
    case = golden_case(name)
    ids, images = _prompt(case, vl.tokenizer)
    logits = vl(torch.tensor([ids]), images=images)[0]
    err = (logits[-1] - golden_tensors[f"{name}.last_logits"]).abs().max().item()
    top = logits.topk(5, dim=-1)
    top_err = (top.values - golden_tensors[f"{name}.top5_vals"]).abs().max().item()
    print(f"{name}: last-position logits max abs diff {err:.3e}, top-5 values {top_err:.3e}")
    assert err <= 1e-3 and top_err <= 1e-3
    assert torch.equal(top.indices, golden_tensors[f"{name}.top5_ids"])


@pytest.mark.parametrize("name,key", [("text", "greedy_8"), ("chat1", "greedy_16"), ("chat2", "greedy_12")])
def test_greedy_tokens(vl, golden_case, name, key):
    case = golden_case(name)
    ids, images = _prompt(case, vl.tokenizer)
    expected = case[key]
    out = vl.generate(torch.tensor([ids]), images=images, do_sample=False, ignore_eos=True,
                      max_new_tokens=len(expected))
    assert out[0, len(ids):].tolist() == expected


def test_training_loss(vl, golden_case):
    case = golden_case("train_loss")
    model = vl.model
    ids, labels = torch.tensor([case["ids"]]), torch.tensor([case["labels"]])
    features = vl.image_features([GOLDEN / n for n in case["images"]])
    model.train()
    try:
        logits = model(ids, image_features=features)
    finally:
        model.eval()
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100).item()
    rel = abs(loss - case["loss"]) / case["loss"]
    print(f"train loss {loss:.6f} vs {case['loss']:.6f} (relative {rel:.2e})")
    assert rel <= 1e-4


def test_drop_in_image_paths_inside_ids(vl, golden_case, golden_tensors, tokenizer):
    """Official callers put short image paths inside the ids; those still work with images=None."""
    text = f"Picture 1:<img>{GOLDEN / 'apple.jpeg'}</img>\nWhat is this?"
    ids = torch.tensor([tokenizer.encode(text)])
    with_paths = vl(ids)
    explicit = vl(ids, images=[GOLDEN / "apple.jpeg"])
    assert torch.equal(with_paths, explicit)
