"""The stage freezing rules: which parameter groups of Qwen-VL a stage trains.

Three groups cover every parameter (paper, Sec. 3): the ViT (`vit`), the position-aware
adapter with its output norm and projection (`adapter`), and the language model (`llm`).
Stage 1 trains vit + adapter, stage 2 everything, stage 3 adapter + llm. The adapter's 2D
sin-cos position table is fixed and never trained.
"""

from __future__ import annotations

import re

from torch import nn

GROUP_PREFIXES = {
    "vit": ("transformer.visual.conv1", "transformer.visual.positional_embedding", "transformer.visual.ln_pre",
            "transformer.visual.transformer"),
    "adapter": ("transformer.visual.attn_pool", "transformer.visual.ln_post", "transformer.visual.proj"),
    "llm": ("transformer.wte", "transformer.h", "transformer.ln_f", "lm_head"),
}
FIXED = ("transformer.visual.attn_pool.pos_embed",)
# Wrappers (DDP, peft) put their own prefixes before the official names.
_WRAPPER_PREFIX = re.compile(r"^(?:module\.|base_model\.model\.)*")


def official_name(name: str) -> str:
    """A parameter name with wrapper prefixes and peft's `.base_layer` removed."""
    return _WRAPPER_PREFIX.sub("", name).replace(".base_layer.", ".")


def group_of(name: str) -> str:
    name = official_name(name)
    for group, prefixes in GROUP_PREFIXES.items():
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return group
    raise ValueError(f"parameter {name} belongs to no group of {', '.join(GROUP_PREFIXES)}")


def is_fixed(name: str) -> bool:
    return official_name(name) in FIXED


def apply_stage(model: nn.Module, trainable: list[str]) -> None:
    """Set requires_grad so that exactly the parameters of the `trainable` groups train."""
    for name, p in model.named_parameters():
        p.requires_grad_(group_of(name) in trainable and not is_fixed(name))


def trains_vision(model: nn.Module) -> bool:
    """Whether any parameter of the vision tower (ViT or adapter) is trained."""
    return any(p.requires_grad for n, p in model.named_parameters() if "transformer.visual." in n)
