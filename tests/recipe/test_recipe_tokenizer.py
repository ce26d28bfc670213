"""The recipe's tokenizer: Qwen's file format and special-token layout, words kept whole."""

from __future__ import annotations

import pytest

from qwenvl.interface import special_tokens as st
from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.recipe.tokenizer_train import build_tokenizer, chinese_words, segment


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = build_tokenizer(tmp_path_factory.mktemp("tok") / "qwen.tiktoken", 700, n_paragraphs=300, n_per_task=5)
    return QwenTokenizer(path)


def test_ranks_file_is_qwen_format(tokenizer):
    ranks = tokenizer.mergeable_ranks
    assert len(ranks) <= 700
    assert sorted(ranks.values()) == list(range(len(ranks)))
    assert all(ranks[bytes([b])] == b for b in range(256))


def test_special_tokens_follow_ranks_in_official_order(tokenizer):
    n = len(tokenizer.mergeable_ranks)
    assert tokenizer.eod_id == n
    assert tokenizer.img_start_id == n + st.SPECIAL_TOKENS.index(st.IMG_START) == n + 3 + 205 + 6
    assert tokenizer.vocab_size == n + len(st.SPECIAL_TOKENS)


@pytest.mark.parametrize("text", ["Find <ref>the red circle</ref>", "图中有三个物体：一个大的红色圆形。", "HOUSE\nsoft care"])
def test_round_trip(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_words_are_learnt_as_tokens(tokenizer):
    assert len(tokenizer.encode(" circle")) == 1
    assert len(tokenizer.encode("红色")) == 1


def test_chinese_is_cut_at_words_for_training():
    words = chinese_words()
    assert segment("：一个中号的绿色箭头", words) == ["：", "一个", "中号的", "绿色", "箭头"]
    assert segment(" hello", words) == [" hello"]
