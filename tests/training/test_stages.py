"""Stages as configuration: exactly the chosen groups train, the 224 → 448 grid, the optimizer's rules."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from qwenvl_testing import CHECKPOINT
from training_helpers import tiny_model, tiny_spec

from qwenvl.checkpoint import save_model
from qwenvl.training.build import build_model
from qwenvl.training.config import ModelSpec, OptimConfig
from qwenvl.training.formats import pretrain_sample
from qwenvl.training.loss import token_loss_sum
from qwenvl.training.optim import build_optimizer, lr_factor, param_groups, vit_lr_scale
from qwenvl.training.packing import Example, collate
from qwenvl.training.stages import GROUP_PREFIXES, apply_stage, group_of

STAGES = {"stage1": ["vit", "adapter"], "stage2": ["vit", "adapter", "llm"], "stage3": ["adapter", "llm"]}


@pytest.fixture(scope="module")
def model0():
    return tiny_model(seed=1)


def a_batch(tokenizer):
    sample = pretrain_sample(tokenizer, {"image": "a.png", "caption": "a red square"}, "caption", [(9, 9)])
    torch.manual_seed(0)
    return collate([[Example.from_sample(sample, torch.randn(1, 3, 56, 56))]], len(sample), tokenizer.eod_id)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_exactly_the_stage_groups_get_gradients_and_nothing_else_changes(stage, model0, qwen_tokenizer):
    model = build_model(tiny_spec(), seed=1)
    model.load_state_dict(model0.state_dict())
    apply_stage(model, STAGES[stage])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = build_optimizer(model, OptimConfig(lr=1e-2, warmup_steps=0), n_vit_layers=2)
    token_loss_sum(model, a_batch(qwen_tokenizer)).backward()
    trained = set()
    for name, p in model.named_parameters():
        if group_of(name) in STAGES[stage] and not name.endswith("attn_pool.pos_embed"):
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{stage}: {name} got no gradient"
            trained.add(name)
        else:
            assert p.grad is None, f"{stage}: frozen {name} got a gradient"
    optimizer.step()
    after = model.state_dict()
    for name, value in after.items():
        if name in trained:
            assert not torch.equal(value, before[name]), f"{stage}: {name} did not change"
        else:
            assert torch.equal(value, before[name]), f"{stage}: {name} changed"
    assert {group_of(n) for n in trained} == set(STAGES[stage])


def test_groups_cover_every_parameter_once(model0):
    names = [n for n, _ in model0.named_parameters()]
    counts = {g: sum(group_of(n) == g for n in names) for g in GROUP_PREFIXES}
    assert sum(counts.values()) == len(names) and all(counts.values())
    assert group_of("transformer.visual.proj") == "adapter"
    assert group_of("transformer.visual.ln_post.weight") == "adapter"
    assert group_of("transformer.visual.transformer.resblocks.1.mlp.c_fc.weight") == "vit"


def official_get_abs_pos(abs_pos, tgt_size):
    """`get_abs_pos` of the official Qwen-VL `visual.py`, verbatim."""
    # abs_pos: L, C
    # tgt_size: M
    # return: M, C
    src_size = int(math.sqrt(abs_pos.size(0)))
    tgt_size = int(math.sqrt(tgt_size))
    dtype = abs_pos.dtype

    if src_size != tgt_size:
        return F.interpolate(
            abs_pos.float().reshape(1, src_size, src_size, -1).permute(0, 3, 1, 2),
            size=(tgt_size, tgt_size),
            mode="bicubic",
            align_corners=False,
        ).permute(0, 2, 3, 1).flatten(0, 2).to(dtype=dtype)
    else:
        return abs_pos


def added_positions(model, size: int) -> torch.Tensor:
    """What the ViT adds to the patch embeddings for a size×size input."""
    visual = model.transformer.visual
    seen = {}
    handle = visual.ln_pre.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    pixels = torch.randn(1, 3, size, size)
    with torch.no_grad():
        model.encode_images(pixels)
        patches = visual.conv1(pixels).flatten(2).transpose(1, 2)
    handle.remove()
    return (seen["x"] - patches)[0]


def test_the_448_grid_is_the_official_bicubic_interpolation_of_the_224_grid(tmp_path):
    stage1 = tiny_model(seed=2, image_size=224)
    save_model(stage1, tmp_path / "stage1", source_dir=CHECKPOINT)
    stage2 = build_model(ModelSpec(path=str(tmp_path / "stage1"), image_size=448))  # stage 2 from stage 1
    assert stage2.cfg.vision.image_size == 448
    table = stage2.transformer.visual.positional_embedding.detach()
    assert torch.equal(table, stage1.transformer.visual.positional_embedding.detach())  # no weight surgery
    at_224 = added_positions(stage1, 224)  # 16×16 grid: the learned table as it is
    assert torch.allclose(at_224, table, atol=1e-6)
    at_448 = added_positions(stage2, 448)  # 32×32 grid: interpolated on the fly
    expected = official_get_abs_pos(table, 32 * 32)
    assert at_448.shape == (1024, table.shape[1])
    assert torch.allclose(at_448, expected, atol=1e-5), (at_448 - expected).abs().max()


def test_layer_wise_lr_decay_and_no_decay_sets(model0):
    d, n = 0.95, 2
    assert vit_lr_scale("transformer.visual.transformer.resblocks.1.attn.in_proj.weight", d, n) == pytest.approx(d)
    assert vit_lr_scale("transformer.visual.transformer.resblocks.0.attn.in_proj.weight", d, n) == pytest.approx(d**2)
    assert vit_lr_scale("transformer.visual.conv1.weight", d, n) == pytest.approx(d**3)
    assert vit_lr_scale("module.transformer.visual.positional_embedding", d, n) == pytest.approx(d**3)
    assert vit_lr_scale("transformer.visual.attn_pool.query", d, n) == 1.0
    assert vit_lr_scale("transformer.h.0.attn.c_attn.weight", d, n) == 1.0
    # a vision-tower multiplier scales the ViT and the adapter, never the LLM
    assert vit_lr_scale("transformer.visual.conv1.weight", d, n, 0.1) == pytest.approx(0.1 * d**3)
    assert vit_lr_scale("module.transformer.visual.attn_pool.query", d, n, 0.1) == pytest.approx(0.1)
    assert vit_lr_scale("transformer.visual.proj", d, n, 0.1) == pytest.approx(0.1)
    assert vit_lr_scale("transformer.h.0.attn.c_attn.weight", d, n, 0.1) == 1.0
    assert vit_lr_scale("lm_head.weight", d, n, 0.1) == 1.0
    cfg = OptimConfig(lr=1e-3, weight_decay=0.05, vit_layer_decay=d)
    groups = param_groups(model0, cfg, n)
    by_param = {id(p): g for g in groups for p in g["params"]}
    params = dict(model0.named_parameters())
    assert by_param[id(params["transformer.visual.conv1.weight"])]["lr"] == pytest.approx(1e-3 * d**3)
    assert by_param[id(params["transformer.h.0.attn.c_attn.weight"])]["weight_decay"] == 0.05
    for no_decay in ("transformer.h.0.attn.c_attn.bias", "transformer.ln_f.weight",
                     "transformer.visual.positional_embedding", "transformer.visual.attn_pool.query"):
        assert by_param[id(params[no_decay])]["weight_decay"] == 0.0, no_decay
    assert id(params["transformer.visual.attn_pool.pos_embed"]) not in by_param  # fixed, never trained


def test_cosine_schedule_with_warmup_and_floor():
    cfg = OptimConfig(lr=2e-4, min_lr=2e-5, warmup_steps=10, steps=110)
    factors = [lr_factor(s, cfg) for s in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[60] == pytest.approx(0.55)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert lr_factor(110, cfg) == pytest.approx(0.1) and lr_factor(500, cfg) == pytest.approx(0.1)
