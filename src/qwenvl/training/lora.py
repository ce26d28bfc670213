"""LoRA through peft: configurable targets (LLM, adapter, ViT), resumable state, merging back.

Targets are groups — `llm` (the official choice: `c_attn`, `attn.c_proj`, `w1`, `w2` of every
block), `adapter` (`kv_proj` and the cross-attention), `vit` (every block's attention and MLP
projections) — or regexes over official module names. Groups listed in `full` (by default the
adapter, as in the official script) are trained in full beside the LoRA weights.
A LoRA checkpoint holds those trained weights and the settings; merging adds the LoRA
products into the base weights and writes a standalone official-format checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..checkpoint import save_model
from .config import LoraSpec
from .stages import apply_stage, official_name

TARGETS = {
    "llm": r"transformer\.h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.w1|mlp\.w2)",
    "adapter": r"transformer\.visual\.attn_pool\.(kv_proj|attn)",
    "vit": r"transformer\.visual\.transformer\.resblocks\.\d+\.(attn\.in_proj|attn\.out_proj|mlp\.c_fc|mlp\.c_proj)",
}
WEIGHTS, SETTINGS = "lora.safetensors", "lora.json"


def target_pattern(targets: list[str]) -> str:
    """One regex that peft matches against whole module names."""
    return "(?:" + "|".join(f"(?:{TARGETS.get(t, t)})" for t in targets) + ")"


def apply_lora(model: nn.Module, spec: LoraSpec) -> nn.Module:
    """`model` wrapped by peft: LoRA weights on the targets, the `full` groups trainable, all else frozen."""
    from peft import LoraConfig, get_peft_model

    apply_stage(model, spec.full)
    full = {n for n, p in model.named_parameters() if p.requires_grad}
    config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=target_pattern(spec.targets))
    peft_model = get_peft_model(model, config)
    for name, p in peft_model.named_parameters():
        if "lora_" not in name and official_name(name) in full:
            p.requires_grad_(True)
    if not any("lora_" in n for n, _ in peft_model.named_parameters()):
        raise ValueError(f"LoRA targets {spec.targets} match no module of the model")
    return peft_model


def trained_state(peft_model: nn.Module) -> dict[str, torch.Tensor]:
    """What a LoRA run changes: the LoRA weights and the fully trained groups, by peft name."""
    return {n: p.detach().contiguous().cpu() for n, p in peft_model.named_parameters() if p.requires_grad}


def save_lora(path: Path, state: dict[str, torch.Tensor], spec: LoraSpec, base_model: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path / WEIGHTS))
    settings = {"lora": dataclasses.asdict(spec), "base_model": str(base_model)}
    (path / SETTINGS).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def read_settings(path: Path) -> tuple[LoraSpec, str]:
    file = Path(path) / SETTINGS
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a LoRA checkpoint ({SETTINGS} missing)")
    settings = json.loads(file.read_text(encoding="utf-8"))
    return LoraSpec(**settings["lora"]), settings["base_model"]


def load_lora(peft_model: nn.Module, path: Path) -> None:
    """Put saved LoRA weights (and fully trained groups) into a model built with the same settings."""
    state = load_file(str(Path(path) / WEIGHTS))
    expected = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    if set(state) != expected:
        raise ValueError(f"{path}: LoRA weights do not match the model "
                         f"({len(set(state) - expected)} unexpected, {len(expected - set(state))} missing)")
    peft_model.load_state_dict(state, strict=False)


def merge(peft_model: nn.Module) -> nn.Module:
    """The plain model with every LoRA product added into its base weight."""
    return peft_model.merge_and_unload()


def merge_checkpoint(lora_dir: str | Path, out_dir: str | Path, base_model: str | Path | None = None) -> Path:
    """A LoRA checkpoint + its base model → a standalone official-format checkpoint directory."""
    from .build import build_model
    from .config import ModelSpec

    spec, recorded_base = read_settings(Path(lora_dir))
    base = Path(base_model or recorded_base)
    model = apply_lora(build_model(ModelSpec(path=str(base))), spec)
    load_lora(model, Path(lora_dir))
    save_model(merge(model), out_dir, source_dir=base)
    return Path(out_dir)
