"""AdamW with the paper's defaults, layer-wise lr decay for the ViT, and a warm-up + cosine schedule.

Layer-wise decay (as in BEiT and EVA, which Qwen-VL's ViT training follows): the last ViT
block trains at lr × decay, each block below it at one more factor of decay, and the patch
embedding, position table and `ln_pre` at decay^(layers+1). The adapter and the LLM train
at the full rate, unless `vision_lr_scale` slows the whole vision tower: trained together from
scratch-sized models, a vision tower at the LLM's rate moves its features faster than the LLM
learns to read them (benchmarks/RESULTS.md, the recipe). Biases, norm weights, the ViT position table and the adapter's queries get
no weight decay.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from .config import OptimConfig
from .stages import official_name

_BLOCK = re.compile(r"^transformer\.visual\.transformer\.resblocks\.(\d+)\.")
_VIT_STEM = ("transformer.visual.conv1.", "transformer.visual.positional_embedding", "transformer.visual.ln_pre.")
_NO_DECAY = ("transformer.visual.positional_embedding", "transformer.visual.attn_pool.query")


def vit_lr_scale(name: str, decay: float, n_layers: int, vision: float = 1.0) -> float:
    """The lr multiplier of a parameter: decay^(n_layers - block) for ViT block `block`, times
    `vision` anywhere in the vision tower (ViT and adapter), 1 in the LLM."""
    name = official_name(name)
    tower = vision if name.startswith("transformer.visual.") else 1.0
    if m := _BLOCK.match(name):
        return tower * decay ** (n_layers - int(m.group(1)))
    if name.startswith(_VIT_STEM):
        return tower * decay ** (n_layers + 1)
    return tower


def wants_decay(name: str, p: torch.Tensor) -> bool:
    return p.ndim >= 2 and not official_name(name).startswith(_NO_DECAY)


def param_groups(model: nn.Module, cfg: OptimConfig, n_vit_layers: int) -> list[dict]:
    """Trainable parameters grouped by (weight decay, lr scale); each group's lr is already scaled."""
    groups: dict[tuple[float, float], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        wd = cfg.weight_decay if wants_decay(name, p) else 0.0
        scale = vit_lr_scale(name, cfg.vit_layer_decay, n_vit_layers, cfg.vision_lr_scale)
        groups.setdefault((wd, scale), {"params": [], "weight_decay": wd, "lr": cfg.lr * scale})["params"].append(p)
    if not groups:
        raise ValueError("nothing to train: no parameter requires a gradient")
    return list(groups.values())


def build_optimizer(model: nn.Module, cfg: OptimConfig, n_vit_layers: int) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, cfg, n_vit_layers), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


def lr_factor(step: int, cfg: OptimConfig) -> float:
    """The schedule at optimizer step `step` (0-based): linear warm-up to 1, cosine down to min_lr/lr."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    floor = cfg.min_lr / cfg.lr
    progress = min((step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, cfg))
