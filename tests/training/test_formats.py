"""The pretraining formats: the paper's texts, boxes on the [0, 1000) grid, text-only supervision."""

from __future__ import annotations

import pytest

from qwenvl.training.formats import FORMATS, pretrain_sample
from qwenvl.training.samples import IGNORE

IMG = "<img>a.jpg</img>"


def text_of(tokenizer, sample) -> str:
    return tokenizer.decode(sample.input_ids).replace("<imgpad>", "")


def supervised(tokenizer, sample) -> str:
    return tokenizer.decode([t for t in sample.labels if t != IGNORE])


@pytest.mark.parametrize("task,record,expected", [
    ("pair", {"caption": "a red square"}, f"{IMG}a red square"),
    ("caption", {"caption": "the beautiful flowers for design."},
     f"{IMG}Generate the caption in English: the beautiful flowers for design."),
    ("caption", {"caption": "一朵花", "lang": "zh"}, f"{IMG}Generate the caption in Chinese: 一朵花"),
    ("vqa", {"question": "Does the bandage have a different color than the wrist band?",
             "answer": "No, both are white."},
     f"{IMG} Does the bandage have a different color than the wrist band? Answer: No, both are white."),
    ("caption_grounding", {"spans": ["Beautiful shot of ", {"ref": "bees", "boxes": [[661, 612, 833, 812],
                                                                                   [120, 555, 265, 770]]},
                                     " gathering nectars from ", {"ref": "an apricot flower",
                                                                  "boxes": [[224, 13, 399, 313]]}],
                           "box_units": "grid"},
     (f"{IMG}Generate the caption in English with grounding: Beautiful shot of <ref>bees</ref>"
      "<box>(661,612),(833,812)</box><box>(120,555),(265,770)</box> gathering nectars from "
      "<ref>an apricot flower</ref><box>(224,13),(399,313)</box>")),
    ("ref_grounding", {"ref": "the ear on a giraffe", "boxes": [[176, 106, 232, 160]], "box_units": "grid"},
     f"{IMG}Referring grounding: <ref>the ear on a giraffe</ref><box>(176,106),(232,160)</box>"),
    ("grounded_caption", {"boxes": [[360, 542, 476, 705]], "caption": "is Yellow cross country ski racing gloves",
                          "box_units": "grid"},
     (f"{IMG}Grounded captioning: <ref>This</ref><box>(360,542),(476,705)</box> is Yellow cross country ski "
      "racing gloves")),
    ("ocr", {"spans": [{"ref": "It is managed", "quads": [[[568, 121], [625, 131], [589, 266], [529, 255]]]},
                       " by"], "box_units": "grid"},
     f"{IMG}OCR with grounding: <ref>It is managed</ref><quad>(568,121),(625,131),(589,266),(529,255)</quad> by"),
])
def test_paper_formats(qwen_tokenizer, task, record, expected):
    sample = pretrain_sample(qwen_tokenizer, {"image": "a.jpg", **record}, task, [(640, 480)])
    assert text_of(qwen_tokenizer, sample) == expected + "<|endoftext|>"
    assert sample.images == ["a.jpg"]
    # every text token is supervised, no image position is
    assert supervised(qwen_tokenizer, sample) == expected.replace(IMG, "") + "<|endoftext|>"


def test_all_formats_are_covered_by_a_test():
    assert set(FORMATS) == {"pair", "caption", "vqa", "caption_grounding", "ref_grounding", "grounded_caption",
                            "ocr", "text", "prompt_answer"}


def test_pure_text_and_prompt_answer(qwen_tokenizer):
    sample = pretrain_sample(qwen_tokenizer, {"text": "Plain text."}, "text", [])
    assert sample.labels == sample.input_ids and sample.images == []
    assert qwen_tokenizer.decode(sample.input_ids) == "Plain text.<|endoftext|>"
    record = {"images": ["a.png", "b.png"], "prompt": "Which is red?", "answer": " The first."}
    sample = pretrain_sample(qwen_tokenizer, record, "prompt_answer", [(10, 10), (10, 10)])
    assert text_of(qwen_tokenizer, sample) == ("Picture 1:<img>a.png</img>\nPicture 2:<img>b.png</img>\n"
                                               "Which is red? The first.<|endoftext|>")
    assert sample.images == ["a.png", "b.png"]


def test_pixel_boxes_are_normalised_by_the_image_size(qwen_tokenizer):
    record = {"image": "a.jpg", "ref": "the dog", "boxes": [[64, 48, 320, 479]]}
    sample = pretrain_sample(qwen_tokenizer, record, "ref_grounding", [(640, 480)])
    assert text_of(qwen_tokenizer, sample).endswith("<ref>the dog</ref><box>(100,100),(500,997)</box><|endoftext|>")


def test_mask_prompt_supervises_only_the_answer(qwen_tokenizer):
    record = {"image": "a.jpg", "question": "Why?", "answer": "Because."}
    sample = pretrain_sample(qwen_tokenizer, record, "vqa", [(8, 8)], mask_prompt=True)
    assert supervised(qwen_tokenizer, sample) == " Because.<|endoftext|>"


@pytest.mark.parametrize("task,record,message", [
    ("caption", {"image": "a.jpg", "caption": "x", "lang": "fr"}, "lang"),
    ("caption", {"image": "a.jpg", "caption": "  "}, "caption"),
    ("ref_grounding", {"image": "a.jpg", "ref": "x", "boxes": []}, "no boxes"),
    ("ref_grounding", {"image": "a.jpg", "ref": "x", "boxes": [[1, 2, 3]]}, "four numbers"),
    ("nonsense", {"text": "x"}, "unknown task"),
])
def test_malformed_records_raise_value_errors(qwen_tokenizer, task, record, message):
    with pytest.raises(ValueError, match=message):
        pretrain_sample(qwen_tokenizer, record, task, [(10, 10)])
