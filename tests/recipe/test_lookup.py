"""Lookup supervision: the right queries and keys, and the very attention the block computes."""

from __future__ import annotations

import re

import pytest
import torch

import qwenvl.model.language as language
from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.model import QWenLMHeadModel
from qwenvl.recipe.data import GroupStream, Mix, answer_spans, chat_sample, make_group, pretrain_sample
from qwenvl.recipe.lookup import HeadLookup, box_lookups, cells_in, focus_lookups, label_lookups
from qwenvl.training.samples import IGNORE
from qwenvl_testing import CHECKPOINT
from recipe_testing import tiny_config


@pytest.fixture(scope="module")
def tokenizer():
    """Qwen's tokenizer, with the image span of `tiny_config`'s adapter."""
    return QwenTokenizer.from_pretrained(CHECKPOINT, image_tokens=tiny_config(1, 0).adapter.n_queries)


def row(tokenizer, answer: str, supervised: bool = True) -> tuple[list[int], list[int]]:
    ids = tokenizer.encode("Picture 1:<img>a.png</img>\nFind it") + tokenizer.encode(answer)
    head = len(ids) - len(tokenizer.encode(answer))
    return ids, [IGNORE] * head + (ids[head:] if supervised else [IGNORE] * (len(ids) - head))


def test_a_box_looks_up_the_patches_it_covers(tokenizer):
    ids, targets = row(tokenizer, "<ref>it</ref><box>(0,500),(250,999)</box>")
    [(queries, keys)] = box_lookups(tokenizer, ids, targets, grid=4)
    span = ids.index(tokenizer.img_start_id) + 1
    assert ids[queries[0]] == tokenizer.box_start_id and ids[queries[-1] + 1] == tokenizer.box_end_id
    # x in [0, 250) holds column 0 only (centres at 125, 375, ...); y in [500, 999) rows 2 and 3
    assert keys == [span + 2 * 4, span + 3 * 4]
    # a box that holds no patch centre looks up the patch holding its own centre, (687, 812)
    assert cells_in((625, 750, 750, 875), 4) == [3 * 4 + 2]


def test_unsupervised_or_malformed_boxes_and_text_rows_plan_nothing(tokenizer):
    assert box_lookups(tokenizer, *row(tokenizer, "<box>(0,0),(999,999)</box>", supervised=False), grid=4) == []
    assert box_lookups(tokenizer, *row(tokenizer, "<box>(0,0)</box>"), grid=4) == []
    ids = tokenizer.encode("<box>(0,0),(999,999)</box>")
    assert box_lookups(tokenizer, ids, ids, grid=4) == []  # no picture before it


def test_answers_without_a_box_look_up_the_object_they_are_read_from(tokenizer):
    mix = Mix({"scene": 1.0}, {"vqa_colour": 1.0, "vqa_shape": 1.0, "vqa_yesno": 1.0, "caption": 1.0}, turns=(3, 5))
    for fmt, build in (("pretrain", pretrain_sample), ("chat", chat_sample)):
        found = 0
        for seed in range(6):
            group = make_group("scene", seed, mix)
            sample = build(tokenizer, group)
            spans = answer_spans(tokenizer, group, fmt)
            for (start, end), (_, answer) in zip(spans, group.turns):
                assert sample.input_ids[start:end] == tokenizer.encode(answer, "all")
            lookups = focus_lookups(tokenizer, sample.input_ids, spans, group.focus, grid=4)
            img = sample.input_ids.index(tokenizer.img_start_id) + 1
            asked = [(span, focus) for span, focus in zip(spans, group.focus) if focus]
            assert len(lookups) == len(asked)  # a caption names no object, so it looks nothing up
            for (queries, keys), ((start, end), [(a, b, boxes)]) in zip(lookups, asked):
                assert queries == list(range(start - 1, end - 1))  # the positions predicting the answer
                assert (a, b) == (0, len(tokenizer.decode(sample.input_ids[start:end]).encode()))
                assert keys == sorted({img + p for _, box in boxes for p in cells_in(box, 4)})
                found += 1
        assert found


def test_reading_looks_along_the_line_token_by_token(tokenizer):
    """An OCR answer's tokens each look up their own characters' patches, left to right."""
    mix = Mix({"text": 1.0}, text_tasks={"ocr": 1.0})
    grid, checked = 16, 0
    for seed in range(40):
        group = make_group("text", seed, mix)
        sample = chat_sample(tokenizer, group)
        spans = answer_spans(tokenizer, group, "chat")
        answer = group.turns[0][1]
        if "\n" in answer or group.images[0] is None:
            continue  # one line, so the reading order is the columns' order
        lookups = focus_lookups(tokenizer, sample.input_ids, spans, group.focus, grid)
        img = sample.input_ids.index(tokenizer.img_start_id) + 1
        start, end = spans[0]
        queries = [q for qs, _ in lookups for q in qs]
        assert queries == list(range(start - 1, end - 1))  # every token of a one-line answer reads somewhere
        assert all(len(keys) < grid * grid // 4 for _, keys in lookups)  # a part of the picture, not all of it
        if len(lookups) > 1:
            columns = [sum((k - img) % grid for k in keys) / len(keys) for _, keys in lookups]
            assert columns[-1] > columns[0]  # the last token's characters lie right of the first's
            checked += 1
    assert checked >= 3


def test_each_pictures_image_tokens_look_up_its_number(tokenizer):
    """In a row of several pictures, picture k's image tokens look up the `k` of `Picture k:`;
    a row of one picture plans nothing (its tokens need not tell pictures apart)."""
    grid = 4
    ids = tokenizer.encode("Picture 1:<img>a.png</img>\nPicture 2:<img>b.png</img>\nPicture 3:<img>c.png</img>\n")
    plan = label_lookups(tokenizer, ids, grid)
    starts = [k + 1 for k, t in enumerate(ids) if t == tokenizer.img_start_id]
    assert [queries for queries, _ in plan] == [list(range(s, s + grid * grid)) for s in starts]
    assert [tokenizer.decode([ids[k] for k in keys]) for _, keys in plan] == ["1", "2", "3"]
    assert label_lookups(tokenizer, tokenizer.encode("Picture 1:<img>a.png</img>\nHi"), grid) == []
    group = make_group("multi", 3, Mix({"multi": 1.0}, turns=(2, 2)))
    sample = chat_sample(tokenizer, group)
    assert len(label_lookups(tokenizer, sample.input_ids, grid)) == len(group.images) >= 2


def test_multi_picture_answers_look_up_the_winning_pictures_objects(tokenizer):
    mix = Mix({"multi": 1.0}, turns=(2, 2))
    group = make_group("multi", 5, mix)
    sample = chat_sample(tokenizer, group)
    spans = answer_spans(tokenizer, group, "chat")
    starts = [k + 1 for k, t in enumerate(sample.input_ids) if t == tokenizer.img_start_id]
    lookups = focus_lookups(tokenizer, sample.input_ids, spans, group.focus, grid=4)
    assert lookups and len(lookups) == len(group.turns)  # the whole answer reads from one set of objects
    for (_, keys), (_, answer) in zip(lookups, group.turns):
        winner = int(re.search(r"\d", answer).group()) - 1  # "Picture 2" or "第2张图片"
        assert all(starts[winner] <= k < starts[winner] + 16 for k in keys)


def test_the_loss_is_the_blocks_own_attention_on_the_keys(tokenizer, monkeypatch):
    """-log of the attention mass that the block itself puts on the planned keys, head by head."""
    torch.manual_seed(0)
    model = QWenLMHeadModel(tiny_config(tokenizer.vocab_size, tokenizer.img_start_id)).train()
    grid = model.cfg.adapter.grid
    stream = GroupStream(tokenizer, Mix({"scene": 1.0}, {"grounding": 1.0, "vqa_colour": 1.0}, turns=(2, 4)), "chat",
                         56, 2, 0, "t", lookup_grid=grid, answer_lookups=("scene",))
    item = next(stream)
    batch, plan = item.batch, item.lookups
    assert all(plan) and item.patch_labels is None
    assert {len(queries) > 3 for lookups in plan for queries, _ in lookups} == {True, False}  # boxes, words
    boxes_only = next(GroupStream(tokenizer, stream.mix, "chat", 56, 2, 0, "t", lookup_grid=grid)).lookups
    assert [[lookup for lookup in lookups if len(lookup[0]) > 3] for lookups in plan] == boxes_only
    seen = []

    def explicit(q, k, v, mask=None, causal=False, dropout=0.0):
        scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
        seen.append(scores.masked_fill(~mask, float("-inf")).softmax(-1))
        return seen[-1] @ v

    monkeypatch.setattr(language, "attention", explicit)
    for head in range(model.cfg.llm.num_attention_heads):
        lookup = HeadLookup(model, 0, head)
        seen.clear()
        model.transformer(batch.input_ids, model.encode_images(batch.pixels), batch.positions, batch.attention_mask)
        probs = seen[0][:, head]
        expected = torch.stack([-probs[r, queries][:, keys].sum(-1).log().mean()
                                for r, lookups in enumerate(plan) for queries, keys in lookups]).mean()
        x = lookup.inputs[0]
        x.retain_grad()
        loss = lookup.loss(plan)
        lookup.close()
        torch.testing.assert_close(loss, expected.float(), rtol=1e-4, atol=1e-5)
        loss.backward()
        assert model.transformer.h[0].attn.c_attn.weight.grad.abs().sum() > 0
        # it trains the asking positions and the tokens they search, image tokens among them
        asking = torch.zeros(x.shape[:2], dtype=torch.bool)
        for r, lookups in enumerate(plan):
            for queries, _ in lookups:
                asking[r, queries] = True
        moved = x.grad.abs().sum(-1) > 0
        assert bool(moved[asking].all()) and bool(moved[~asking].any())
        assert model.transformer.visual.attn_pool.query.grad.abs().sum() > 0
        model.zero_grad()


def test_a_block_or_head_the_llm_does_not_have_is_refused():
    model = QWenLMHeadModel(tiny_config(128, 100))
    for layer, head in ((0, 2), (1, 0), (-1, 0)):
        with pytest.raises(ValueError, match=f"block {layer}, head {head} out of range: the LLM has 1 blocks of 2"):
            HeadLookup(model, layer, head)


def test_a_batch_without_an_attention_mask_is_refused(tokenizer):
    model = QWenLMHeadModel(tiny_config(tokenizer.vocab_size, tokenizer.img_start_id))
    lookup = HeadLookup(model, 0, 0)
    ids = torch.tensor([tokenizer.encode("hello there")])
    model.transformer(ids, None, torch.arange(ids.shape[1])[None], None)
    with pytest.raises(ValueError, match="needs the batch's attention mask"):
        lookup.loss([[([1], [0])]])


def test_a_stage_with_lookup_trains_through_it_and_leaves_no_hook(tokenizer, tmp_path, monkeypatch):
    import qwenvl.recipe.lookup as lookup
    from qwenvl.recipe.dense import patch_head
    from qwenvl.recipe.loop import Schedule
    from qwenvl.recipe.run import run_stage
    from qwenvl.recipe.stages import Stage

    planned = []
    real = lookup.HeadLookup.loss
    monkeypatch.setattr(lookup.HeadLookup, "loss",
                        lambda self, plan: planned.append((self.head, plan)) or real(self, plan))
    torch.manual_seed(0)
    model = QWenLMHeadModel(tiny_config(tokenizer.vocab_size, tokenizer.img_start_id))
    for patch_loss, fmt in ((1.0, "pretrain"), (0.0, "chat")):
        stage = Stage("s", ("adapter", "llm"), 56, fmt, Mix({"scene": 1.0}, {"grounding": 1.0}, turns=(1, 2)),
                      Schedule(2, 1e-3, 1), 2, patch_loss=patch_loss, lookup=1.0, lookup_head=(0, 1))
        summary = run_stage(model, stage, tokenizer, 1.0, 0, tmp_path, False, patch_head(model.cfg.vision.width))
        assert summary["steps"] == 2 and summary["final_loss"] > 0
    assert len(planned) == 4 and all(head == 1 and any(p) for head, p in planned)
    # picture numbers, by a head of their own, on rows of several pictures
    planned.clear()
    stage = Stage("s", ("adapter", "llm"), 56, "chat", Mix({"multi": 1.0}, turns=(2, 2)), Schedule(2, 1e-3, 1), 2,
                  lookup=1.0, lookup_head=(0, 1), label_lookup=0.5, label_head=(0, 0))
    run_stage(model, stage, tokenizer, 1.0, 0, tmp_path, False, patch_head(model.cfg.vision.width))
    labels = [p for head, p in planned if head == 0]
    assert len(labels) == 2 and all(len(queries) == 16 for p in labels for lookups in p for queries, _ in lookups)
    assert not model.transformer.h[0].attn._forward_pre_hooks


def test_answer_lookups_are_planned_only_for_the_kinds_asked(tokenizer):
    """("text",): OCR answers look up their characters; a scene's answers only their boxes."""
    mix = Mix({"scene": 1.0, "text": 1.0}, {"grounding": 1.0, "vqa_colour": 1.0}, {"ocr": 1.0}, turns=(2, 3))
    grid, kinds = 4, set()
    stream = GroupStream(tokenizer, mix, "chat", 56, 1, 0, "t", lookup_grid=grid, answer_lookups=("text",))
    for seed in range(8):
        for kind in ("scene", "text"):
            group = make_group(kind, seed, mix)
            if not group.turns:
                continue
            example = stream.example(group)
            boxes = box_lookups(tokenizer, example.input_ids, example.targets, grid)
            planned = stream.lookups(group, example)
            assert (planned != boxes) == (kind == "text" and any(group.focus))
            kinds.add(kind)
    assert kinds == {"scene", "text"}


def test_an_unknown_kind_of_answer_lookup_is_refused(tokenizer):
    with pytest.raises(ValueError, match="unknown group kinds \\['txt'\\]"):
        GroupStream(tokenizer, Mix({"text": 1.0}), "chat", 56, 1, 0, "t", lookup_grid=4, answer_lookups=("txt",))


def test_label_lookups_without_the_adapters_grid_are_refused(tokenizer):
    with pytest.raises(ValueError, match="label lookups need the adapter's grid"):
        GroupStream(tokenizer, Mix({"multi": 1.0}), "chat", 56, 1, 0, "t", label_lookups=True)
