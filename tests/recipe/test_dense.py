"""The dense patch loss: labels the loss can use, and a wrapper that keeps the model's names and rates."""

from __future__ import annotations

import torch

from qwenvl.model import QWenLMHeadModel
from qwenvl.recipe.dense import NO_LABEL, PATCH_CLASSES, PatchSupervised, dense_loss, patch_head
from qwenvl.recipe.loop import Schedule
from qwenvl.training.optim import build_optimizer
from recipe_testing import tiny_config


def test_a_kind_no_patch_carries_adds_nothing():
    torch.manual_seed(0)
    head, tokens = patch_head(8), torch.randn(2, 4, 8)
    places = torch.randint(0, 4, (2, 4))
    labels = torch.full((2, len(PATCH_CLASSES), 4), NO_LABEL)
    assert float(dense_loss(head, tokens, labels)) == 0.0
    row = list(PATCH_CLASSES).index("row")
    labels[:, row] = places  # rows only
    start = sum(list(PATCH_CLASSES.values())[:row])
    logits = head(tokens)[..., start:start + PATCH_CLASSES["row"]]
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), places.flatten())
    assert torch.allclose(dense_loss(head, tokens, labels), expected)


def test_wrapped_model_keeps_official_names_and_the_vision_rate():
    model = QWenLMHeadModel(tiny_config(128, 100))
    wrapped = PatchSupervised(model, patch_head(model.cfg.vision.width))
    optimizer = build_optimizer(wrapped, Schedule(steps=4, lr=1e-3, vision_lr_scale=0.1).optim(), 1)
    rate = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert rate[id(model.transformer.visual.conv1.weight)] == 1e-4
    assert rate[id(model.transformer.h[0].attn.c_attn.weight)] == 1e-3
    assert rate[id(wrapped.patch_head.weight)] == 1e-3
    assert set(model.state_dict()) == {k.removeprefix("module.") for k in wrapped.state_dict()
                                       if k.startswith("module.")}


def test_the_vit_and_the_patch_head_are_clipped_apart_from_the_rest():
    from qwenvl.recipe.loop import clip_groups

    model = QWenLMHeadModel(tiny_config(128, 100))
    wrapped = PatchSupervised(model, patch_head(model.cfg.vision.width))
    rest, vit = clip_groups(wrapped)
    names = {id(p): n for n, p in wrapped.named_parameters()}
    assert all(names[id(p)].startswith(("module.transformer.visual.conv1", "module.transformer.visual.ln_pre",
                                         "module.transformer.visual.transformer.", "module.transformer.visual.positional",
                                         "patch_head.")) for p in vit)
    assert any("attn_pool" in names[id(p)] for p in rest) and any(".h.0." in names[id(p)] for p in rest)
    assert len(rest) + len(vit) == sum(p.requires_grad for p in wrapped.parameters())
    assert len(clip_groups(model)) == 1  # a bare model clips as one
