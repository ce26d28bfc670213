"""The pretraining sample formats of Qwen-VL: stage-1 image-text pairs and the stage-2 tasks.

Each format turns a record into a prompt and an answer (paper, Appendix B.1); the sample is
`prompt + answer + <|endoftext|>`. The loss covers text tokens only: the image spans are
never supervised, and with `mask_prompt` neither is the prompt. Boxes in records are pixel
corners of their image (`box_units: pixel`, the default) or already on the [0, 1000) grid
(`box_units: grid`); either way they are written with the one box format of
`interface.grounding`.

Record fields per task (`lang` is "en" or "zh", default "en"):
    pair               image, caption
    caption            image, caption, lang
    vqa                image, question, answer
    caption_grounding  image, spans, lang    spans: text pieces and {"ref", "boxes"} items
    ref_grounding      image, ref, boxes
    grounded_caption   image, boxes, caption, ref (default "This")
    ocr                image, spans          spans: text pieces and {"ref", "quads"} items
    text               text
    prompt_answer      images (list), prompt, answer: any other task, images as "Picture N:" lines
"""

from __future__ import annotations

from ..interface import special_tokens as st
from ..interface.grounding import format_box, format_quad, format_ref, normalize_box
from ..interface.list_format import from_list_format
from .samples import IGNORE, Sample

LANGUAGES = {"en": "English", "zh": "Chinese"}


def pretrain_sample(tokenizer, record: dict, task: str, sizes: list[tuple[int, int]],
                    mask_prompt: bool = False) -> Sample:
    """The sample of a pretraining record whose images have the given (width, height) sizes."""
    try:
        build = FORMATS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(sorted(FORMATS))}") from None
    prompt, answer = build(record, Boxes(record, sizes))
    prompt_ids = tokenizer.encode(prompt, st.IMAGE_ST)
    answer_ids = tokenizer.encode(answer, st.IMAGE_ST) + [tokenizer.eod_id]
    if mask_prompt:
        prompt_labels = [IGNORE] * len(prompt_ids)
    else:
        prompt_labels = _mask_images(prompt_ids, tokenizer.img_start_id, tokenizer.img_end_id)
    return Sample(prompt_ids + answer_ids, prompt_labels + answer_ids, image_refs(record))


def image_refs(record: dict) -> list[str]:
    """The image references of a pretraining record, in the order they appear in its text."""
    if "images" in record:
        return [str(r) for r in record["images"]]
    return [str(record["image"])] if "image" in record else []


def _mask_images(ids: list[int], start: int, end: int) -> list[int]:
    """Labels equal to ids except over `<img>…</img>`: image positions are not text."""
    labels, inside = [], False
    for t in ids:
        inside = inside or t == start
        labels.append(IGNORE if inside else t)
        inside = inside and t != end
    return labels


class Boxes:
    """Writes a record's boxes and quads on the [0, 1000) grid of its (first) image."""

    def __init__(self, record: dict, sizes: list[tuple[int, int]]):
        self.units = record.get("box_units", "pixel")
        if self.units not in ("pixel", "grid"):
            raise ValueError(f"box_units must be 'pixel' or 'grid', got {self.units!r}")
        self.size = sizes[0] if sizes else None

    def box(self, b) -> str:
        if len(b) != 4:
            raise ValueError(f"a box needs four numbers (x1, y1, x2, y2), got {b!r}")
        return format_box(*self._grid(b))

    def quad(self, points) -> str:
        if len(points) != 4:
            raise ValueError(f"a quad needs four (x, y) points, got {points!r}")
        return format_quad([self._grid((x, y, x, y))[:2] for x, y in points])

    def _grid(self, b) -> tuple[int, ...]:
        if self.units == "grid":
            return tuple(int(v) for v in b)
        if self.size is None:
            raise ValueError("pixel boxes need an image to be normalised by")
        return normalize_box(b, *self.size)

    def spans(self, spans: list) -> str:
        """Text pieces and {"ref", "boxes"|"quads"} items, concatenated."""
        out = []
        for s in spans:
            if isinstance(s, str):
                out.append(s)
            else:
                regions = [self.box(b) for b in s.get("boxes", [])] + [self.quad(q) for q in s.get("quads", [])]
                if not regions:
                    raise ValueError(f"grounded span without boxes or quads: {s!r}")
                out.append((format_ref(s["ref"]) if s.get("ref") else "") + "".join(regions))
        return "".join(out)


def _img(record: dict) -> str:
    return f"{st.IMG_START}{record['image']}{st.IMG_END}"


def _language(record: dict) -> str:
    lang = record.get("lang", "en")
    try:
        return LANGUAGES[lang]
    except KeyError:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}") from None


def _text(record: dict, key: str) -> str:
    value = record[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"record field {key!r} must be non-empty text")
    return value


def _boxes(record: dict, b: Boxes) -> str:
    if not record.get("boxes"):
        raise ValueError("record has no boxes")
    return "".join(b.box(x) for x in record["boxes"])


def pair(r, b):
    return _img(r), _text(r, "caption")


def caption(r, b):
    return f"{_img(r)}Generate the caption in {_language(r)}:", " " + _text(r, "caption")


def vqa(r, b):
    return f"{_img(r)} {_text(r, 'question')} Answer:", " " + _text(r, "answer")


def caption_grounding(r, b):
    return f"{_img(r)}Generate the caption in {_language(r)} with grounding:", " " + b.spans(r["spans"])


def ref_grounding(r, b):
    return f"{_img(r)}Referring grounding: {format_ref(_text(r, 'ref'))}", _boxes(r, b)


def grounded_caption(r, b):
    region = format_ref(r.get("ref", "This")) + _boxes(r, b)
    return f"{_img(r)}Grounded captioning: {region}", " " + _text(r, "caption")


def ocr(r, b):
    return f"{_img(r)}OCR with grounding:", " " + b.spans(r["spans"])


def text(r, b):
    return "", _text(r, "text")


def prompt_answer(r, b):
    pictures = from_list_format([{"image": i} for i in r.get("images", [])])
    return pictures + r["prompt"], _text(r, "answer")


FORMATS = {f.__name__: f for f in (pair, caption, vqa, caption_grounding, ref_grounding, grounded_caption, ocr,
                                    text, prompt_answer)}
