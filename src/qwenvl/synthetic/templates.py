"""Every English and Chinese string the synthetic tasks produce, in one place.

The wording is short and regular on purpose: a tiny model should spend its capacity on seeing,
not on paraphrase. English prompts reuse the project's evaluation prompts (`interface.prompts`)
so training and evaluation ask the same way.
"""

from __future__ import annotations

from ..interface import prompts
from .describe import Description
from .vocab import COLOUR, NUMBERS_EN, NUMBERS_ZH, SHAPE, SIZE

LANGS = ("en", "zh")

PROMPTS = {
    "en": {
        "caption": prompts.CAPTION,
        "grounded_caption": "Generate the caption in English with grounding:",
        "grounding": prompts.GROUNDING_CHAT,
        "region": "Describe the region {box}:",
        "vqa": prompts.VQA,
        "ocr": "Read the text in the image:",
        "ocr_quad": "Read the text in the image with its position:",
    },
    "zh": {
        "caption": "用中文描述这张图片：",
        "grounded_caption": "用中文描述这张图片并标出位置：",
        "grounding": "找到<ref>{expression}</ref>",
        "region": "描述区域{box}：",
        "vqa": "{question} 回答：",
        "ocr": "识别图中的文字：",
        "ocr_quad": "识别图中的文字并给出位置：",
    },
}

QUESTIONS = {
    "en": {
        "colour": "What colour is {the}?",
        "shape": "What shape is {the}?",
        "count": "How many {plural} are there?",
        "relation_x": "Is {a} to the left or to the right of {b}?",
        "relation_y": "Is {a} above or below {b}?",
        "exists": "Is there {a}?",
        "has_colour": "Is {the} {colour}?",
        "more": "Which picture has more {plural}?",
        "most": "Which picture has the most {plural}?",
        "which_has": "Which picture has {a}?",
        "boxed_word": "What is the word in the {colour} box?",
        "sign": "What is written on the sign?",
    },
    "zh": {
        "colour": "{the}是什么颜色？",
        "shape": "{the}是什么形状？",
        "count": "图中有几个{plural}？",
        "relation_x": "{a}在{b}的左边还是右边？",
        "relation_y": "{a}在{b}的上面还是下面？",
        "exists": "图中有{a}吗？",
        "has_colour": "{the}是{colour}的吗？",
        "more": "哪张图片里{plural}更多？",
        "most": "哪张图片里{plural}最多？",
        "which_has": "哪张图片里有{a}？",
        "boxed_word": "{colour}框里的词是什么？",
        "sign": "牌子上写着什么？",
    },
}

ANSWERS = {
    "en": {"yes": "yes", "no": "no", "has": "yes", "has_not": "no", "left": "left", "right": "right",
           "above": "above", "below": "below", "picture": "Picture {i}"},
    "zh": {"yes": "是", "no": "不是", "has": "有", "has_not": "没有", "left": "左边", "right": "右边",
           "above": "上面", "below": "下面", "picture": "第{i}张图片"},
}

# Sentences of the text corpus.
SENTENCES = {
    "en": {"count_one": "There is one {thing}.", "count": "There are {n} {things}.",
           "plus": "{a} plus {b} is {c}.", "word": "The word is {word}."},
    "zh": {"count_one": "有一个{thing}。", "count": "有{n}个{things}。",
           "plus": "{a}加{b}等于{c}。", "word": "这个词是{word}。"},
}
SENTENCE_JOIN = {"en": " ", "zh": ""}
LIST_END = {"en": ".", "zh": "。"}
LIST_SEP = {"en": ", ", "zh": "、"}

POSITION = {
    "en": {"left": " on the left", "right": " on the right", "top": " at the top", "bottom": " at the bottom"},
    "zh": {"left": "左边的", "right": "右边的", "top": "上面的", "bottom": "下面的"},
}
OBJECT = {"en": ("object", "objects"), "zh": ("物体", "物体")}


def colour_word(colour: str, lang: str) -> str:
    return colour if lang == "en" else COLOUR[colour].zh


def shape_word(shape: str, lang: str) -> str:
    return shape if lang == "en" else SHAPE[shape].zh


def size_word(size: str, lang: str) -> str:
    return size if lang == "en" else SIZE[size].zh


def place_words(position: str, lang: str) -> str:
    """What a noun phrase says of a position: ' on the left' / '左边的'."""
    return POSITION[lang][position]


def noun_phrase(desc: Description, lang: str, article: str = "the") -> str:
    """'the big red circle on the left' / '左边的大的红色圆形'; article 'a' gives 'a'/'an' / '一个'."""
    if lang == "en":
        noun = desc.shape or OBJECT["en"][0]
        words = " ".join(w for w in (desc.size, desc.colour, noun) if w)
        det = article if article == "the" else ("an" if words[0] in "aeiou" else "a")
        return f"{det} {words}{POSITION['en'][desc.position] if desc.position else ''}"
    prefix = (POSITION["zh"][desc.position] if desc.position else "") + (SIZE[desc.size].zh if desc.size else "")
    colour = COLOUR[desc.colour].zh + ("" if prefix else "的") if desc.colour else ""
    phrase = prefix + colour + (SHAPE[desc.shape].zh if desc.shape else OBJECT["zh"][0])
    return phrase if article == "the" else "一个" + phrase


def kind_phrase(shape: str | None, colour: str | None, lang: str, plural: bool = True) -> str:
    """'red circles' (or 'red circle') / '红色的圆形'; without a shape, 'objects' / '物体'."""
    if lang == "en":
        noun = (SHAPE[shape].plural if plural else shape) if shape else OBJECT["en"][int(plural)]
        return f"{colour} {noun}" if colour else noun
    noun = SHAPE[shape].zh if shape else OBJECT["zh"][1]
    return f"{COLOUR[colour].zh}的{noun}" if colour else noun


def enumerate_items(items: list[str], lang: str) -> str:
    """'a, b and c' / 'a、b和c'."""
    if len(items) == 1:
        return items[0]
    if lang == "en":
        return ", ".join(items[:-1]) + " and " + items[-1]
    return "、".join(items[:-1]) + "和" + items[-1]


def caption(items: list[str], lang: str) -> str:
    """'Three objects: a …, a … and a ….' / '图中有三个物体：一个…、一个…和一个…。'"""
    n = len(items)
    if lang == "en":
        head = NUMBERS_EN[n].capitalize() + (" object" if n == 1 else " objects")
        return f"{head}: {enumerate_items(items, lang)}."
    return f"图中有{NUMBERS_ZH[n]}个物体：{enumerate_items(items, lang)}。"


def sentence(kind: str, lang: str, **fields) -> str:
    text = SENTENCES[lang][kind].format(**fields)
    return text[0].upper() + text[1:]


def word_list(words: list[str], lang: str) -> str:
    """'one, two, three.' / '一、二、三。'"""
    text = LIST_SEP[lang].join(words) + LIST_END[lang]
    return text[0].upper() + text[1:]


def question(kind: str, lang: str, **fields) -> str:
    return QUESTIONS[lang][kind].format(**fields)


def vqa_prompt(question_text: str, lang: str) -> str:
    return PROMPTS[lang]["vqa"].format(question=question_text)


def answer(kind: str, lang: str, **fields) -> str:
    return ANSWERS[lang][kind].format(**fields)
