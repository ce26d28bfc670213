"""Caption cleaning and the text rules, one behaviour per test."""

from __future__ import annotations

import pytest

from qwenvl.cleaning.config import TextRules
from qwenvl.cleaning.text import (check_length, clean_caption, count_words, dedup_text, find_emoji,
                                  find_foreign, strip_html)


@pytest.mark.parametrize("raw, clean", [
    ("<b>bold</b> text", "bold text"),
    ("line one<br>line two", "line one line two"),
    ("<div class='x'>a</div><p>b</p>", "a b"),
    ("Tom &amp; Jerry &quot;cartoon&quot;", 'Tom & Jerry "cartoon"'),
    ("&lt;i&gt;escaped&lt;/i&gt; markup", "escaped markup"),
    ("<script>alert(1)</script>safe <!-- note --> text", "safe text"),
    ("3 < 4 and 5 > 2", "3 < 4 and 5 > 2"),  # comparisons are not tags
])
def test_html_is_stripped_and_unescaped(raw, clean):
    assert clean_caption(raw, TextRules()) == clean


@pytest.mark.parametrize("raw, clean", [
    ("see https://example.com/page?id=3 for more", "see for more"),
    ("visit www.example.org today", "visit today"),
    ("mail me at someone.name@example.co.uk please", "mail me at please"),
    ("IMG_1234.JPG a dog on grass", "a dog on grass"),
    ("wow!!!! so good??", "wow! so good?"),
    ("and then.......", "and then..."),
    ("太好了！！！真美", "太好了！真美"),
    ("first\\nsecond\\tthird", "first second third"),
    ("zero\u200bwidth\ufeff", "zerowidth"),
    ("  lots   of\n\n space  ,  here ", "lots of space, here"),
])
def test_irregular_patterns_are_cleaned(raw, clean):
    assert clean_caption(raw, TextRules()) == clean


def test_irregular_patterns_can_be_switched_off():
    rules = TextRules(irregular=("urls",), strip_html=False)
    assert clean_caption("<b>wow!!!</b> https://x.y", rules) == "<b>wow!!!</b>"


def test_html_stripping_is_idempotent_on_clean_text():
    text = "一只猫 sitting on a mat, 2023."
    assert strip_html(text) == text and clean_caption(text, TextRules()) == text


@pytest.mark.parametrize("text", ["dog 🐶", "thumbs 👍🏽 up", "flag 🇨🇳", "sun ☀ today", "star ⭐", "heart ❤\ufe0f"])
def test_emoji_are_found(text):
    assert find_emoji(text) is not None


@pytest.mark.parametrize("text", ["a plain caption", "中文标题，很好！", "“quoted” — dash… ok", "张三·李四"])
def test_non_emoji_text_passes(text):
    assert find_emoji(text) is None


@pytest.mark.parametrize("text", ["English words, digits 123 and (punctuation)!",
                                  "一只小猫在沙发上睡觉。", "混合 mixed 文本：「引号」《书名》",
                                  "full-width ＡＢＣ１２３，ok"])
def test_english_and_chinese_are_allowed(text):
    assert find_foreign(text) is None


@pytest.mark.parametrize("text, char", [("café", "é"), ("собака", "с"), ("ねこ", "ね"), ("고양이", "고"),
                                        ("30°C", "°"), ("naïve", "ï")])
def test_other_scripts_and_symbols_are_refused(text, char):
    assert repr(char) in find_foreign(text)


def test_extra_allowed_characters():
    assert find_foreign("30°C café", extra_allowed="°é") is None


def test_words_count_cjk_ideographs_one_each():
    assert count_words("一只猫") == 3
    assert count_words("a cat, 2 dogs") == 4
    assert count_words("一只猫 on a mat") == 6


def test_length_bounds():
    rules = TextRules(min_chars=3, max_chars=20, min_words=2, max_words=4)
    assert check_length("a cat", rules) is None
    assert "characters" in check_length("ab", rules)
    assert "characters" in check_length("x" * 21, rules)
    assert "words" in check_length("onlyoneword", rules)
    assert "words" in check_length("a b c d e", rules)


def test_dedup_text_ignores_case_and_spacing():
    assert dedup_text("A  Red\tCar") == dedup_text("a red car")
    assert dedup_text("a red car") != dedup_text("a red cart")
