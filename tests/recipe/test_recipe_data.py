"""Training batches of the recipe: pictures and spans agree, labels follow the stage's format."""

from __future__ import annotations

import pytest

from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.recipe.clip_pretrain import pair
from qwenvl.recipe.data import GroupStream, Mix, chat_sample, make_group, pretrain_sample
from qwenvl.recipe.dense import GLYPH_IDS, LATTICE, NO_LABEL, PATCH_CLASSES, patch_labels
from qwenvl.recipe.lm_pretrain import ROW, context_document, text_batches
from qwenvl.synthetic import split_of
from qwenvl.synthetic.vocab import COLOURS, SHAPES
from qwenvl.training.samples import IGNORE
from qwenvl_testing import CHECKPOINT

GLYPHS = {i: c for c, i in GLYPH_IDS.items()}
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


def test_patch_supervised_streams_label_every_picture_in_batch_order(tokenizer):
    stream = GroupStream(tokenizer, Mix(MIX.kinds, MIX.scene_tasks, MIX.text_tasks, MIX.turns, text_rows=0.3), "pretrain",
                         56, 3, seed=0, name="t", patch_grid=4)
    kinds = set()
    for _ in range(12):
        item = next(stream)
        batch, labels = item.batch, item.patch_labels
        if batch.pixels is None:
            kinds.add("text rows")
            assert labels is None
            continue
        assert labels.shape == (len(batch.pixels), len(PATCH_CLASSES), 16)
        kinds.add("pictures")
    assert kinds == {"text rows", "pictures"}
    plain = GroupStream(tokenizer, MIX, "pretrain", 56, 3, seed=0, name="t")
    # the labels are those of the pictures the batch holds, in order, and the batches are the plain ones
    again = GroupStream(tokenizer, MIX, "pretrain", 56, 3, seed=0, name="t", patch_grid=4)
    found = 0
    for _ in range(6):
        item, plain_batch = next(again), next(plain)
        batch, labels = item.batch, item.patch_labels
        assert (batch.pixels == plain_batch.pixels).all()
        shapes, x1 = labels[:, 0], labels[:, 2]
        objects = (shapes != len(SHAPES)) & (shapes != NO_LABEL)  # neither background nor rendered text
        found += int(objects.sum())
        assert bool((x1[objects] != NO_LABEL).all()) and bool((x1[~objects] == NO_LABEL).all())
    assert found


def test_pooled_streams_batch_rows_by_length_with_their_pictures_and_labels(tokenizer):
    pooled = GroupStream(tokenizer, MIX, "pretrain", 56, 3, seed=0, name="t", patch_grid=4, pool=3)
    unlabelled = GroupStream(tokenizer, MIX, "pretrain", 56, 3, seed=0, name="t", pool=3)
    plain = GroupStream(tokenizer, MIX, "pretrain", 56, 3, seed=0, name="t")
    padded = {"pooled": 0, "plain": 0}
    for _ in range(2):  # two pools of three batches, each pool one group kind
        pool = [(item.batch, item.patch_labels) for item in (next(pooled) for _ in range(3))]
        assert all(b.input_ids.shape[0] == 3 for b, _ in pool)
        for (batch, labels), again in zip(pool, (next(unlabelled) for _ in range(3))):
            n_spans = int((batch.input_ids == tokenizer.img_start_id).sum())
            assert batch.pixels.shape[0] == n_spans == labels.shape[0]
            assert (batch.pixels == again.pixels).all()  # the labels stream draws the very same rows
        widths = [b.input_ids.shape[1] for b, _ in pool]
        assert widths == sorted(widths)  # the pool's rows go out shortest first
        padded["pooled"] += sum(b.input_ids.numel() - b.n_tokens for b, _ in pool)
        padded["plain"] += sum(b.input_ids.numel() - b.n_tokens for b in (next(plain) for _ in range(3)))
    assert padded["pooled"] < padded["plain"]
    with pytest.raises(ValueError, match="pool must be at least 1"):
        GroupStream(tokenizer, MIX, "pretrain", 56, 3, seed=0, name="t", pool=0)


def test_training_seeds_are_never_held_out(tokenizer, monkeypatch):
    seen = []
    import qwenvl.recipe.data as data
    real = data.make_group
    monkeypatch.setattr(data, "make_group", lambda kind, seed, mix: seen.append(seed) or real(kind, seed, mix))
    next(GroupStream(tokenizer, MIX, "pretrain", 28, 4, seed=5, name="t"))
    assert seen and all(split_of(s) == "train" for s in seen)


def test_clip_pairs_label_objects_on_scenes_and_characters_on_text():
    kinds = set()
    for seed in range(12):
        picture, text, labels = pair(seed, 8)
        assert len(labels) == len(PATCH_CLASSES) and all(len(row) == 64 for row in labels)
        assert picture.size == (224, 224) and text
        shapes, colours, *boxes, cols, rows, chars = labels
        assert cols[:9] == [0, 1, 2, 3, 4, 5, 6, 7, 0] and rows[:9] == [0] * 8 + [1]  # every patch knows its place
        if shapes[0] == NO_LABEL:
            kinds.add("text")
            assert {*shapes, *colours, *sum(boxes, [])} == {NO_LABEL}
            read = {c for c in chars if c != len(GLYPH_IDS)}
            assert read and {GLYPHS[c] for c in read} <= set(text)  # only characters the picture shows
        else:
            assert set(chars) == {len(GLYPH_IDS)}  # a scene shows no character
            kinds.add("scene")
            assert all(0 <= s <= len(SHAPES) for s in shapes) and all(0 <= c <= len(COLOURS) for c in colours)
            background = [s == len(SHAPES) for s in shapes]
            assert background == [c == len(COLOURS) for c in colours] and not all(background)
            for k, corner in enumerate(boxes):  # objects' patches carry their box, background none
                assert all((v == NO_LABEL) == b for v, b in zip(corner, background))
                assert all(0 <= v <= LATTICE for v, b in zip(corner, background) if not b)
    assert kinds == {"text", "scene"}


def test_patch_labels_give_each_patch_its_objects_lattice_box():
    from qwenvl.synthetic.backgrounds import Background
    from qwenvl.synthetic.scenes import Scene, SceneObject

    obj = SceneObject("star", "red", "medium", (56, 28, 112, 84), (220, 40, 40))  # lattice cells x 2-3, y 1-2
    scene = Scene(224, 224, (obj,), Background("plain", ((128, 128, 128),) * 2, 0.0, 0.1, 0), 0.0, 0)
    shapes, colours, x1, y1, x2, y2, cols, rows, _ = patch_labels(scene, 16)  # 224 px: two patches a cell
    inside = [i for i, s in enumerate(shapes) if s != len(SHAPES)]
    assert inside == [r * 16 + c for r in range(2, 6) for c in range(4, 8)]
    assert {x1[i] for i in inside} == {2} and {y1[i] for i in inside} == {1}
    assert {x2[i] for i in inside} == {4} and {y2[i] for i in inside} == {3}
    assert cols[4] == 2 and cols[5] == 2 and rows[16 * 5] == 2


def spans(labels: list[int]) -> list[range]:
    """The runs of supervised positions."""
    out, begin = [], None
    for i, label in enumerate(labels + [IGNORE]):
        if label != IGNORE and begin is None:
            begin = i
        elif label == IGNORE and begin is not None:
            out.append(range(begin, i))
            begin = None
    return out


def test_context_documents_supervise_only_answers_found_in_their_caption(tokenizer):
    """The lookup phase asks about the scene its caption describes: every colour answer is a word
    of the caption, every box one of its boxes, and only the answers (each closed by
    `<|endoftext|>`) carry labels."""
    for seed in range(40):
        ids, labels = context_document(tokenizer, seed << 2, ["vqa_colour", "grounding"])
        caption = tokenizer.decode(ids[:ids.index(tokenizer.eod_id)])
        assert all(labels[i] == ids[i] for i in range(len(ids)) if labels[i] != IGNORE)
        colour, box = spans(labels)
        assert ids[colour[-1]] == ids[box[-1]] == tokenizer.eod_id
        prompt = tokenizer.decode(ids[colour[0] - 4:colour[0]])
        assert prompt.endswith(("Answer:", "回答：")), prompt
        assert tokenizer.decode(ids[colour[0]:colour[-1]]).strip() in caption
        answer = ids[box[0]:box[-1]]
        assert tokenizer.decode(answer[answer.index(tokenizer.encode("<box>")[0]):]) in caption
    assert context_document(tokenizer, 8) == context_document(tokenizer, 8)


def test_a_caption_question_asks_for_the_context_caption_without_its_boxes(tokenizer):
    for seed in range(20):
        ids, labels = context_document(tokenizer, seed << 2, ["caption"])
        context = tokenizer.decode(ids[:ids.index(tokenizer.eod_id)])
        (answer,) = spans(labels)
        written = tokenizer.decode(ids[answer[0]:answer[-1]])
        assert "<box>" in context and "<box>" not in written
        phrases = [p.split("</ref>")[0] for p in context.split("<ref>")[1:]]
        assert phrases and all(p in written for p in phrases)


def test_context_rows_hold_whole_documents(tokenizer):
    """Rows are packed with whole documents: each row's last label closes an answer."""
    batch = next(text_batches(tokenizer, 4, 0))
    assert batch.input_ids.shape == (4, ROW)
    for targets in batch.targets.tolist():
        assert [t for t in targets if t != IGNORE][-1] == tokenizer.eod_id
