"""The reading phase: English text first, then Chinese too, scenes throughout or last, every patch labelled."""

from __future__ import annotations

import torch

from qwenvl.model import QWenLMHeadModel
from qwenvl.recipe.dense import CHINESE_GLYPHS, GLYPH_IDS, NO_LABEL, PATCH_CLASSES, patch_head
from qwenvl.recipe.loop import Schedule
from qwenvl.recipe.reading import Reading, picture, pretrain_reading, reading_batches

from recipe_testing import tiny_config

CHAR, SHAPE = list(PATCH_CLASSES).index("char"), list(PATCH_CLASSES).index("shape")


def _kinds(labels: torch.Tensor) -> set[str]:
    """What each picture of a batch is: a scene, English text or Chinese text."""
    kinds = set()
    for row in labels:
        chars = {int(c) for c in row[CHAR]} - {len(GLYPH_IDS), NO_LABEL}
        if (row[SHAPE] != NO_LABEL).any():
            kinds.add("scene")
        elif chars:
            kinds.add("zh" if chars & CHINESE_GLYPHS else "en")
    return kinds


def test_the_phase_shows_english_text_first_then_chinese_too_then_scenes():
    plan = Reading(Schedule(6, 1e-3, 1), batch_size=24, image_size=56, english_only=1 / 3, scenes_from=2 / 3)
    batches = list(reading_batches(plan, 6, 14, seed=0))
    assert [tuple(b[0].shape) for b in batches] == [(24, 3, 56, 56)] * 6
    assert [tuple(b[1].shape) for b in batches] == [(24, len(PATCH_CLASSES), 16)] * 6
    kinds = [_kinds(torch.cat([b[1] for b in batches[i:i + 2]])) for i in (0, 2, 4)]
    assert kinds == [{"en"}, {"en", "zh"}, {"scene", "en", "zh"}]
    throughout = Reading(plan.schedule, batch_size=24, image_size=56, english_only=1 / 3)  # scenes_from 0
    assert _kinds(next(reading_batches(throughout, 6, 14, seed=0))[1]) == {"scene", "en"}


def test_text_pictures_label_their_characters_and_scenes_their_objects():
    seen = set()
    for seed in range(16):
        _, labels = picture(seed, chinese=0.5, scenes=0.5, grid=16)
        shapes, chars = labels[SHAPE], labels[CHAR]
        if all(s == NO_LABEL for s in shapes):
            seen.add("text")
            assert any(c < len(GLYPH_IDS) for c in chars)
        else:
            seen.add("scene")
            assert set(chars) == {len(GLYPH_IDS)}
    assert seen == {"text", "scene"}


def test_reading_trains_the_vit_and_the_head_and_nothing_else():
    torch.manual_seed(0)
    model = QWenLMHeadModel(tiny_config(300, 280))
    head = patch_head(model.cfg.vision.width)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    head_before = head.weight.clone()
    summary = pretrain_reading(model, head, Reading(Schedule(2, 1e-3, 1), batch_size=2, image_size=56),
                               progress=False)
    assert summary["steps"] == 2
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("transformer.visual.") and ".attn_pool." not in k for k in changed)
    assert "transformer.visual.conv1.weight" in changed and not torch.equal(head.weight, head_before)
