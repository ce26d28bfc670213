"""Caption cleaning (HTML, irregular patterns) and the text checks (emoji, language, length).

Cleaning edits the caption; checks return the offending detail or None. Character classes are
explicit code-point ranges rather than `unicodedata` categories so the language rule means
exactly "English and Chinese" and does not drift between Python versions.
"""

from __future__ import annotations

import functools
import html
import re

from .config import TextRules

_BLOCK_TAGS = "br|p|div|li|ul|ol|tr|td|th|h[1-6]|table|section|article|header|footer|blockquote|hr"
_TAG = re.compile(
    r"<!--.*?-->"
    r"|<(?P<raw>script|style)\b[^>]*>.*?</(?P=raw)\s*>"
    r"|</?(?P<name>[A-Za-z][A-Za-z0-9:-]*)(?:\s[^<>]*)?/?>",
    re.S | re.I)
_BLOCK = re.compile(rf"(?:{_BLOCK_TAGS})", re.I)

# Applied in this order: URLs before e-mails and file names, which URLs may contain.
_IRREGULAR: dict[str, tuple[re.Pattern, str]] = {
    "zero_width": (re.compile("[\u200b-\u200d\u2060\ufeff]"), ""),
    # Escape sequences that leaked into the text as literal characters, and raw control codes.
    "escapes": (re.compile(r"\\(?:[nrt]|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2})|[\x00-\x1f\x7f]"), " "),
    "urls": (re.compile(r"(?:https?|ftp)://\S+|\bwww\.\S+", re.I), " "),
    "emails": (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), " "),
    "filenames": (re.compile(r"\b[\w-]+\.(?:jpe?g|png|gif|webp|bmp|tiff?)\b", re.I), " "),
}
# Runs of one punctuation mark collapse to one; dots keep a three-dot ellipsis.
_REPEATED = re.compile(r"([!?,;:~*=_#\-。！？，、；：～])\1+")
_DOTS = re.compile(r"\.{4,}")
_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.!?;:，。！？；：、])")


def strip_html(text: str) -> str:
    """Remove tags (block tags become a space so words do not merge), then unescape entities.

    Tags are stripped again after unescaping because alt texts often carry escaped markup.
    """
    def repl(m: re.Match) -> str:
        if m.group("name") and not _BLOCK.fullmatch(m.group("name")):
            return ""
        return " "
    return _TAG.sub(repl, html.unescape(_TAG.sub(repl, text)))


def clean_irregular(text: str, patterns: tuple[str, ...]) -> str:
    for name, (regex, repl) in _IRREGULAR.items():
        if name in patterns:
            text = regex.sub(repl, text)
    if "repeated_punct" in patterns:
        text = _DOTS.sub("...", _REPEATED.sub(r"\1", text))
    return text


def normalize_space(text: str) -> str:
    return _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACE.sub(" ", text)).strip()


def clean_caption(text: str, rules: TextRules) -> str:
    if rules.strip_html:
        text = strip_html(text)
    return normalize_space(clean_irregular(text, rules.irregular))


_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # mahjong .. symbols & pictographs extended-A, incl. flags, skin tones
    (0x2300, 0x23FF),    # miscellaneous technical (⌚ ⏰ ...)
    (0x2600, 0x27BF),    # miscellaneous symbols, dingbats
    (0x2B00, 0x2BFF),    # arrows & stars (⭐ ⬛ ...)
    (0x3030, 0x3030), (0x303D, 0x303D),  # the two emoji inside CJK punctuation
    (0xFE0F, 0xFE0F),    # emoji presentation selector
    (0xE0020, 0xE007F),  # tag characters (subdivision flags)
)

_ALLOWED_RANGES = (
    (0x20, 0x7E),        # ASCII letters, digits, punctuation, space
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0xF900, 0xFAFF),  # CJK ideographs
    (0x3000, 0x303F),    # CJK punctuation (、。「」《》 ...)
    (0xFF01, 0xFF65),    # full-width ASCII variants and half-width CJK punctuation (，！？：)
    (0x2010, 0x2027),    # dashes, curly quotes, bullet, ellipsis used in both languages
    (0x00B7, 0x00B7),    # middle dot in Chinese transliterated names
)


def _char_class(ranges) -> str:
    return "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges)


_EMOJI = re.compile(f"[{_char_class(_EMOJI_RANGES)}]")


@functools.lru_cache(maxsize=8)
def _foreign(extra_allowed: str) -> re.Pattern:
    return re.compile(f"[^{_char_class(_ALLOWED_RANGES)}{re.escape(extra_allowed)}]")


def find_emoji(text: str) -> str | None:
    found = _EMOJI.search(text)
    return f"emoji U+{ord(found.group()):04X} {found.group()!r}" if found else None


def find_foreign(text: str, extra_allowed: str = "") -> str | None:
    found = _foreign(extra_allowed).search(text)
    return f"character U+{ord(found.group()):04X} {found.group()!r} is not English/Chinese" if found else None


_WORD = re.compile(r"[A-Za-z0-9]+|[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\U00020000-\U0002a6df]")


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def check_length(text: str, rules: TextRules) -> str | None:
    chars, words = len(text), count_words(text)
    if not rules.min_chars <= chars <= rules.max_chars:
        return f"{chars} characters, allowed {rules.min_chars}..{rules.max_chars}"
    if not rules.min_words <= words <= rules.max_words:
        return f"{words} words, allowed {rules.min_words}..{rules.max_words}"
    return None


def dedup_text(text: str) -> str:
    """Case and spacing do not make two captions different for exact deduplication."""
    return " ".join(text.casefold().split())
