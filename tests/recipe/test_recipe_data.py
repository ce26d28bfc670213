"""Training batches of the recipe: pictures and spans agree, labels follow the stage's format."""

from __future__ import annotations

import pytest

from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.recipe.clip_pretrain import NO_LABEL, pair
from qwenvl.recipe.data import GroupStream, Mix, chat_sample, make_group, pretrain_sample
from qwenvl.synthetic import split_of
from qwenvl.synthetic.vocab import COLOURS, SHAPES
from qwenvl.training.samples import IGNORE
from qwenvl_testing import CHECKPOINT

MIX = Mix({"scene": 1.0, "text": 1.0, "multi": 1.0}, {"grounding": 1.0, "vqa_count": 1.0}, {"ocr": 1.0}, (2, 4))


@pytest.fixture(scope="module")
def tokenizer():
    return QwenTokenizer.from_pretrained(CHECKPOINT)


@pytest.mark.parametrize("kind", ["scene", "text", "multi"])
def test_groups_ask_several_questions_about_their_pictures(kind):
    group = make_group(kind, 12345 << 2, MIX)
    assert group.images and group.turns
    assert len(group.images) in ((2, 3) if kind == "multi" else (1,))
    assert all(im.size == (224, 224) for im in group.images)


def test_pretrain_rows_supervise_text_not_pictures(tokenizer):
    group = make_group("scene", 7 << 2, MIX)
    sample = pretrain_sample(tokenizer, group)
    img_end = sample.input_ids.index(tokenizer.img_end_id)
    assert all(label == IGNORE for label in sample.labels[:img_end + 1])
    assert sample.input_ids.count(tokenizer.eod_id) == len(group.turns)
    assert sample.labels[-1] == tokenizer.eod_id


def test_chat_dialogues_supervise_only_answers(tokenizer):
    group = make_group("scene", 9 << 2, MIX)
    sample = chat_sample(tokenizer, group)
    supervised = tokenizer.decode([t for t in sample.labels if t != IGNORE])
    for prompt, answer in group.turns:
        assert answer in supervised and prompt not in supervised
    assert sample.input_ids.count(tokenizer.img_start_id) == 1


@pytest.mark.parametrize("fmt", ["pretrain", "chat"])
def test_batches_carry_one_picture_per_span(tokenizer, fmt):
    stream = GroupStream(tokenizer, MIX, fmt, 56, 3, seed=0, name="t")
    for _ in range(3):
        batch = next(stream)
        n_spans = int((batch.input_ids == tokenizer.img_start_id).sum())
        assert batch.pixels.shape == (n_spans, 3, 56, 56)
        assert batch.input_ids.shape[0] == 3


def test_training_seeds_are_never_held_out(tokenizer, monkeypatch):
    seen = []
    import qwenvl.recipe.data as data
    real = data.make_group
    monkeypatch.setattr(data, "make_group", lambda kind, seed, mix: seen.append(seed) or real(kind, seed, mix))
    next(GroupStream(tokenizer, MIX, "pretrain", 28, 4, seed=5, name="t"))
    assert seen and all(split_of(s) == "train" for s in seen)


def test_clip_pairs_label_scene_patches_and_leave_text_patches_unlabelled():
    kinds = set()
    for seed in range(12):
        picture, text, shapes, colours = pair(seed, 8)
        assert len(shapes) == len(colours) == 64 and picture.size == (224, 224) and text
        if shapes[0] == NO_LABEL:
            kinds.add("text")
            assert set(shapes) == set(colours) == {NO_LABEL}
        else:
            kinds.add("scene")
            assert all(0 <= s <= len(SHAPES) for s in shapes) and all(0 <= c <= len(COLOURS) for c in colours)
            assert (shapes.count(len(SHAPES)) == colours.count(len(COLOURS))) and shapes.count(len(SHAPES)) < 64
    assert kinds == {"text", "scene"}
