"""Sampling, stopping, streaming and chat behaviour (random tiny model + the real tokenizer)."""

from __future__ import annotations

import pytest
import torch

from qwenvl_testing import CHECKPOINT, random_model
from qwenvl.api import QwenVL
from qwenvl.generation import GenerationConfig, TextStream, generate_tokens
from qwenvl.generation.sampling import repetition_penalty, top_k_filter, top_p_filter
from qwenvl.interface import QwenTokenizer, make_context


@pytest.fixture(scope="module")
def tok():
    return QwenTokenizer.from_pretrained(CHECKPOINT)


@pytest.fixture(scope="module")
def small_vl(tok):
    return QwenVL(random_model(seed=3), tok, GenerationConfig(do_sample=True, top_p=0.5))


def test_top_k_keeps_exactly_k():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    kept = torch.isfinite(top_k_filter(logits, 2))
    assert kept.tolist() == [[False, True, False, True, False]]


def test_top_p_keeps_smallest_set_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    assert torch.isfinite(top_p_filter(logits, 0.5)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.81)).tolist() == [[True, True, True, False]]


def test_repetition_penalty_follows_hf_rule():
    logits = torch.tensor([[2.0, -2.0, 1.0]])
    out = repetition_penalty(logits, [torch.tensor([0, 1])], 2.0)
    assert out.tolist() == [[1.0, -4.0, 1.0]]


def test_invalid_settings_are_named():
    with pytest.raises(ValueError, match="top_p"):
        GenerationConfig(top_p=1.5)
    with pytest.raises(ValueError, match="temperature"):
        GenerationConfig(do_sample=True, temperature=0)
    with pytest.raises(TypeError, match="unknown generation argument"):
        GenerationConfig().updated(top_q=0.3)


def test_seed_makes_sampling_reproducible(small_vl, tok):
    ids = torch.tensor([tok.encode("once upon a time")])
    a = small_vl.generate(ids, do_sample=True, temperature=1.5, seed=7, max_new_tokens=12, ignore_eos=True)
    b = small_vl.generate(ids, do_sample=True, temperature=1.5, seed=7, max_new_tokens=12, ignore_eos=True)
    c = small_vl.generate(ids, do_sample=True, temperature=1.5, seed=8, max_new_tokens=12, ignore_eos=True)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_stop_token_and_ignore_eos(small_vl, tok):
    prompt = tok.encode("hello")
    greedy = small_vl.generate_batch([prompt], cfg=GenerationConfig(max_new_tokens=8, eos_token_id=None))[0]
    i = next(i for i, t in enumerate(greedy) if i > 0 and t not in greedy[:i])  # first new token after the start
    stopped = small_vl.generate_batch([prompt], cfg=GenerationConfig(max_new_tokens=8, eos_token_id=greedy[i]))[0]
    assert stopped == greedy[:i + 1]
    ignored = small_vl.generate_batch(
        [prompt], cfg=GenerationConfig(max_new_tokens=8, eos_token_id=greedy[i], ignore_eos=True))[0]
    assert ignored == greedy


def test_stop_strings_end_the_answer(small_vl, tok):
    prompt = tok.encode("hello")
    cfg = GenerationConfig(max_new_tokens=10, eos_token_id=None)
    full = "".join(small_vl.stream_tokens(prompt, None, cfg))
    stop = full[3:6]
    assert stop and stop in full
    cut = "".join(small_vl.stream_tokens(prompt, None, cfg.updated(stop_strings=[stop])))
    assert cut == full[:full.index(stop)]


def test_stream_never_splits_utf8(tok):
    text = "你好，世界 😀 ümlaut 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
    byte_tokens = [tok.mergeable_ranks[bytes([b])] for b in text.encode("utf-8")]  # worst case: a token per byte
    stream = TextStream(tok)
    deltas = [stream.push(t) for t in byte_tokens] + [stream.finish()]
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)


def test_stream_holds_back_possible_stop_string_prefix(tok):
    stream = TextStream(tok, stop_strings=("STOP",))
    shown = "".join(stream.push(t) for t in tok.encode("abc ST"))
    assert shown == "abc "
    shown += "".join(stream.push(t) for t in tok.encode("OP and more"))
    assert shown + stream.finish() == "abc " and stream.stopped


def test_chat_does_not_mutate_history_and_streams_same_text(small_vl, tok):
    history = [("hi", "hello")]
    snapshot = list(history)
    response, new_history = small_vl.chat(tok, "how are you", history=history, do_sample=False, max_new_tokens=8)
    assert history == snapshot
    assert new_history == snapshot + [("how are you", response)]
    streamed = "".join(small_vl.chat_stream(tok, "how are you", history=history, do_sample=False, max_new_tokens=8))
    assert streamed.strip() == response


def test_history_window_drops_oldest_turns(tok):
    history = [(f"question {i} " + "word " * 50, f"answer {i}") for i in range(10)]
    raw, ids = make_context(tok, "final", history, "sys", max_window_size=300)
    assert len(ids) < 300 + 40
    assert "question 9" in raw and "question 0" not in raw
    assert raw.endswith("<|im_start|>user\nfinal<|im_end|>\n<|im_start|>assistant\n")
    assert tok.decode(ids) == raw


def test_images_anywhere_in_history_are_used(small_vl, tok, monkeypatch):
    seen = []
    monkeypatch.setattr(small_vl, "image_features", lambda images, ids=None: seen.append(list(images or [])) or (
        torch.randn(len(images), 256, 128) if images else None))
    history = [(tok.from_list_format([{"image": "first.png"}, {"text": "look"}]), "ok")]
    small_vl.chat(tok, [{"image": "second.png"}, {"text": "and this"}], history=history, do_sample=False,
                  max_new_tokens=2)
    assert seen == [["first.png", "second.png"]]


def test_long_image_sources_are_not_limited(tok):
    url = "data:image/png;base64," + "A" * 5000
    ids = tok.encode(f"Picture 1: <img>{url}</img>\nhi")
    start = ids.index(tok.img_start_id)
    assert ids[start + 257] == tok.img_end_id
    assert ids[start + 1:start + 257] == [tok.img_pad_id] * 256


def test_both_picture_label_styles_tokenize_to_one_span(tok):
    for text in ("Picture 1:<img>a.png</img>\nq", "Picture 1: <img>a.png</img>\nq"):
        ids = tok.encode(text)
        assert ids.count(tok.img_start_id) == 1 and ids.count(tok.img_pad_id) == 256 - len("a.png")


def test_generate_returns_prompt_plus_new_tokens(small_vl, tok):
    ids = torch.tensor([tok.encode("abc"), tok.encode("xyz")])
    out = small_vl.generate(ids, do_sample=False, max_new_tokens=4, ignore_eos=True)
    assert out.shape == (2, ids.shape[1] + 4) and torch.equal(out[:, :ids.shape[1]], ids)


def test_batch_rows_match_single_rows_through_api(small_vl, tok):
    prompts = [tok.encode("the cat sat"), tok.encode("a much longer prompt about dogs and cats")]
    cfg = GenerationConfig(max_new_tokens=6, eos_token_id=None)
    together = small_vl.generate_batch(prompts, cfg=cfg)
    assert together == [small_vl.generate_batch([p], cfg=cfg)[0] for p in prompts]


def test_generate_honours_the_callers_padding_mask(small_vl, tok):
    a, b = tok.encode("the cat sat on"), tok.encode("dogs")
    pad = tok.eod_id
    ids = torch.tensor([a, [pad] * (len(a) - len(b)) + b])
    mask = torch.tensor([[1] * len(a), [0] * (len(a) - len(b)) + [1] * len(b)])
    out = small_vl.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=5, ignore_eos=True)
    alone = small_vl.generate(torch.tensor([b]), do_sample=False, max_new_tokens=5, ignore_eos=True)
    assert out[1, -5:].tolist() == alone[0, -5:].tolist()


def test_tokenizer_call_is_hf_style(tok):
    assert tok("hello world")["input_ids"] == tok.encode("hello world")
    assert tok("hi", return_tensors="pt")["input_ids"].tolist() == [tok.encode("hi")]
