"""Seeded generators of prediction/annotation sets aimed at each official scorer's quirks.

Nothing here knows a metric's value: the sets go to both the transcribed official scorer and
ours, and the tests compare the two.
"""

from __future__ import annotations

import random

NUMBER_WORDS = ["none", "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

VQA_ANSWERS = [
    "yes", "no", "2", "two", "3", "none", "0", "10", "ten", "red", "red and white", "cat", "the cat",
    "dont", "don't", "isnt", "t-shirt", "t shirt", "black/white", "10:30", "3.5", "1,000", "1000",
    "a.m.", "am", "mr. smith", "hot dog", "50%", "left", "(left)", "it's", "its", "u.s.a.", "usa",
    "e-mail", "email", "whats up", "what's up", "n/a", "unanswerable", "coca-cola", "coca cola",
    "yes!", "an apple", "apple", "@home", "c++", "youre", "yall", "oclock", "5 o'clock", "Im",
    "one way", "on/off", "left, right", "1, 2", "x=y", "<3", "under_score", "twas",
]


def _vqa_variant(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(0, 3)):
        kind = rng.randrange(12)
        if kind == 0:
            text = rng.choice([str.upper, str.title, str.capitalize])(text)
        elif kind == 1:
            text = rng.choice(["the ", "a ", "An ", "THE "]) + text
        elif kind == 2:
            text += rng.choice([".", "!", "?", " .", "..", ",", " !", " ?"])
        elif kind == 3:
            words = [NUMBER_WORDS.index(w) - 1 if w in NUMBER_WORDS[1:] else w for w in text.split()]
            text = " ".join(str(w) for w in words)
        elif kind == 4:
            words = text.split()
            text = " ".join(NUMBER_WORDS[int(w) + 1] if w.isdigit() and int(w) <= 10 else w for w in words)
        elif kind == 5:
            text = text.replace("'", "")
        elif kind == 6:
            text = rng.choice(["\n", "\t", " ", "  "]) + text.replace(" ", rng.choice(["  ", "\t", " \n "])) + rng.choice(["", " ", "\n"])
        elif kind == 7:
            left, right = rng.choice(['""', "()", "[]", "{}", "``", "<>"])
            text = left + text + right
        elif kind == 8:
            text = text.replace(" ", rng.choice(["-", "/", "_", ",", ", ", " - "]))
        elif kind == 9:
            text += rng.choice([" 1,000", " 3,5", " 2.5", " no.", " v1.2.3"])
        elif kind == 10:
            text = (text or "x") + "." * rng.randint(28, 40) + rng.choice(["", "x", "a.b"])
        else:
            text = rng.choice(VQA_ANSWERS)
    return text


def vqa_set(rng: random.Random, n: int) -> tuple[list[str], list[list[str]]]:
    """Predictions and per-question human answers (10, or fewer now and then)."""
    predictions, answers = [], []
    for _ in range(n):
        pool = rng.sample(VQA_ANSWERS, rng.randint(1, 4))
        if rng.random() < 0.3:
            pool = [_vqa_variant(rng, a) for a in pool]
        count = 10 if rng.random() < 0.85 else rng.randint(3, 10)
        humans = [pool[0]] * count if rng.random() < 0.15 else [rng.choice(pool) for _ in range(count)]
        source = rng.choice(humans) if rng.random() < 0.8 else rng.choice(VQA_ANSWERS)
        predictions.append(_vqa_variant(rng, source))
        answers.append(humans)
    return predictions, answers


DOC_ANSWERS = [
    "$1,234.56", "John Smith", "12/05/1998", "ACME Corp.", "Straße", "İstanbul", "new york",
    "  spaced   out  ", "R&D department", "Table 3", "0.5%", "yes", "N/A", "Dr. Jane Doe, PhD",
    "2019-2020", "ÉCOLE", "x", "one hundred and twenty", "ﬁnance", "Σίσυφος", "a b", "ab",
]


def _edit(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 4)):
        op = rng.randrange(3)
        pos = rng.randint(0, len(chars))
        letter = rng.choice("abcdeXYZ 0.,ßİ")
        if op == 0 or not chars:
            chars.insert(pos, letter)
        elif op == 1:
            del chars[min(pos, len(chars) - 1)]
        else:
            chars[min(pos, len(chars) - 1)] = letter
    return "".join(chars)


def anls_set(rng: random.Random, n: int) -> tuple[list[str], list[list[str]]]:
    """Predictions and per-question answer lists for DocVQA-style ANLS."""
    predictions, answers = [], []
    for _ in range(n):
        golds = rng.sample(DOC_ANSWERS, rng.randint(1, 3))
        if rng.random() < 0.03:
            golds.append("")
        roll = rng.random()
        if roll < 0.7:
            prediction = _edit(rng, rng.choice(golds))
            if rng.random() < 0.3:
                prediction = rng.choice([str.upper, str.lower, str.title])(prediction)
            if rng.random() < 0.3:
                prediction = " " + prediction.replace(" ", rng.choice(["  ", "\t", "\n"])) + "  "
        elif roll < 0.95:
            prediction = rng.choice(DOC_ANSWERS)
        else:
            prediction = ""
        predictions.append(prediction)
        answers.append(golds)
    return predictions, answers


CHART_WORDS = ["Yes", "No", "France", "blue", "2019-2020", "1,000", "Q3", "Asia", "NaN"]


def _number_text(rng: random.Random, value: float) -> str:
    style = rng.randrange(4)
    if style == 0:
        return str(round(value))
    if style == 1:
        return f"{value:.{rng.randint(1, 3)}f}"
    if style == 2:
        return f"{value:.2e}"
    return repr(value)


def _chart_target(rng: random.Random) -> tuple[str, float | None]:
    roll = rng.random()
    if roll < 0.25:
        value = float(rng.randint(-50, 1000))
        return str(int(value)), value
    if roll < 0.5:
        value = round(rng.uniform(-100, 100), rng.randint(1, 2))
        return str(value), value
    if roll < 0.7:
        value = round(rng.uniform(0, 100), rng.randint(0, 1))
        return f"{value:g}%", value / 100
    if roll < 0.75:
        return rng.choice(["0", "0.0", "0%"]), 0.0
    return rng.choice(CHART_WORDS), None


def relaxed_set(rng: random.Random, n: int) -> tuple[list[str], list[str | list[str]]]:
    """ChartQA-style answers against one reference string (or, now and then, a list of them)."""
    predictions, targets = [], []
    for _ in range(n):
        text, value = _chart_target(rng)
        roll = rng.random()
        if value is not None and roll < 0.75:
            guess = value * rng.uniform(0.9, 1.1) if rng.random() < 0.8 else value
            prediction = f"{_number_text(rng, guess * 100)}%" if rng.random() < 0.2 else _number_text(rng, guess)
        elif value is None and roll < 0.6:
            prediction = rng.choice([str.upper, str.lower, str.title, str])(text)
        else:
            prediction = rng.choice(["0", "0%", "nan", "inf", "-inf", "", "12", "1e3", "Yes", "5%", " 7 "]
                                    + CHART_WORDS)
        if rng.random() < 0.3:
            prediction = rng.choice([" ", "\n", "\t"]) + prediction + rng.choice([" ", "", "\n"])
        if rng.random() < 0.1:
            text = " " + text
        predictions.append(prediction)
        targets.append([text, _chart_target(rng)[0]] if rng.random() < 0.15 else text)
    return predictions, targets


GQA_WORDS = ["cat", "dog", "table", "left", "right", "yes", "no", "man", "woman", "red", "blue",
             "shirt", "coffee", "apple", "banana", "glass", "wood", "metal", "sitting", "white"]
GQA_TEMPLATES = [
    "{a}", "{A}.", "The answer is {a}.", "It is a {a}", "it is an {a}, I think", "There are {a}s",
    "a cup of {a}", "This is the {a}", "{a}!", "the {a} of the house", "Yes, it is the {a}",
    "an {a}", " {a} ", "is it {a}?", "They are {a}", "{A} is on the left.", "The {a} is made of wood",
    "a {a} split", "{a}. It is {a}", "none of the {a}",
]


def gqa_set(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    """Free-form replies and one-word GQA references."""
    predictions, targets = [], []
    for _ in range(n):
        target = rng.choice(GQA_WORDS)
        said = target if rng.random() < 0.7 else rng.choice(GQA_WORDS)
        predictions.append(rng.choice(GQA_TEMPLATES).format(a=said, A=said.capitalize()))
        targets.append(target)
    return predictions, targets


TITLES = ["The Great Gatsby", "Fiction", "Yes", "No", "B", "Cookbooks, Food & Wine", "2nd Edition", "A"]


def exact_match_set(rng: random.Random, n: int) -> tuple[list[str], list[str | list[str]]]:
    """OCR-VQA/AI2D-style answers: case and whitespace variants of references, or other strings."""
    predictions, targets = [], []
    for _ in range(n):
        target = rng.choice(TITLES)
        said = target if rng.random() < 0.6 else rng.choice(TITLES)
        said = rng.choice([str.upper, str.lower, str])(said)
        if rng.random() < 0.3:
            said = rng.choice([" ", "\n"]) + said + rng.choice([" ", "\t", ""])
        predictions.append(said)
        targets.append([target, " " + rng.choice(TITLES)] if rng.random() < 0.2 else target)
    return predictions, targets


def _grid(rng: random.Random, value: float, size: int, noise: float) -> str:
    g = value / size * 999 + rng.gauss(0, noise)
    return str(round(g)) if rng.random() < 0.8 else f"{g:.2f}"


def grounding_set(rng: random.Random, n: int) -> tuple[list[str], list[list[float]], list[tuple[int, int]]]:
    """Generated replies, ground-truth x1y1x2y2 pixel boxes and (width, height) image sizes."""
    replies, boxes, sizes = [], [], []
    for _ in range(n):
        w, h = rng.randint(100, 1200), rng.randint(100, 1200)
        x1, y1 = rng.uniform(0, 0.8 * w), rng.uniform(0, 0.8 * h)
        gt = [round(x1, 2), round(y1, 2), round(rng.uniform(x1 + 1, w), 2), round(rng.uniform(y1 + 1, h), 2)]
        noise = rng.choice([0.0, 5.0, 30.0, 80.0, 200.0])
        a, b, c, d = (_grid(rng, v, s, noise) for v, s in zip(gt, (w, h, w, h)))
        form = rng.randrange(20)
        reply = [
            f"({a},{b}),({c},{d})", f"<ref>the dog</ref><box>({a},{b}),({c},{d})</box>",
            f"({a}, {b}),({c}, {d})", f"( {a},{b} ),({c},{d})", f"({c},{d}),({a},{b})",
            f"({a},{b})({c},{d})", f"({a};{b}),({c},{d})", f"({a},{b},{c}),({d},0)", "", "no box here",
            f"(nan,{b}),({c},{d})", f"({a},{b}),({c}", "(a,b),(c,d)", f"(1e2,{b}),({c},{d})",
            f"({a},{b}),({c},{d}),(0,0),(1,1)", f"(,{b}),({c},{d})", f"({a},{b})\n,({c},{d})",
            f"<box>({a},{b}),({c},{d})</box> and ({c},{d}),({a},{b})", f"(-{a},{b}),({c},{d})",
            f"({a},{b}),({a},{d})",
        ][form if rng.random() < 0.5 else 0]
        replies.append(reply)
        boxes.append(gt)
        sizes.append((w, h))
    return replies, boxes, sizes


def choice_losses(rng: random.Random, n: int) -> tuple[list[list[list[float]]], list[list[int]], list[int]]:
    """Per item: per-option token losses (options x tokens), answer-token counts, correct index.
    A quarter of the items repeat an option's losses, so ties must break like torch.argmin."""
    losses, lengths, answers = [], [], []
    for _ in range(n):
        options, tokens = rng.randint(2, 5), rng.randint(4, 10)
        rows = [[rng.uniform(0, 5) for _ in range(tokens)] for _ in range(options)]
        if rng.random() < 0.25:
            rows[rng.randrange(options)] = list(rows[rng.randrange(options)])
        count = rng.randint(1, 3)
        losses.append(rows)
        lengths.append([count] * options)
        answers.append(rng.randrange(options))
    return losses, lengths, answers


SUBJECTS = ["a man", "A woman", "two dogs", "the child", "Three people", "a cat", "An old man"]
VERBS = ["riding", "playing with", "sitting on", "holding", "looking at", "walking beside", "isn't near"]
OBJECTS = ["a horse", "the ball", "a red t-shirt", "his dog's toy", 'a "big" sign', "an umbrella (blue)",
           "3.5 kg of fish", "the U.S. flag", "a {curly} brace", "the 1,000th car", "a horse"]
TAILS = ["", ".", "!", " in the park.", ", smiling.", "; outdoors", " -- happily", "...", " at 5 p.m.", "?"]


def _caption(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"


def caption_set(rng: random.Random, n: int) -> tuple[dict[int, str], dict[int, list[str]]]:
    """One predicted caption and 5 references per image id."""
    predictions, references = {}, {}
    for image_id in rng.sample(range(10_000, 99_999), n):
        refs = [_caption(rng) for _ in range(5)]
        roll = rng.random()
        if roll < 0.5:
            prediction = rng.choice(refs)
            prediction = rng.choice([str.upper, str.lower, str])(prediction)
        elif roll < 0.93:
            prediction = _caption(rng)
        else:
            prediction = rng.choice(["", "...", "a", "dog dog dog dog dog dog"])
        predictions[image_id] = prediction
        references[image_id] = refs
    return predictions, references
