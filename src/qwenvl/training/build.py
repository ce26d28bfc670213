"""The model a run starts from: an official checkpoint (at the stage's image size) or a random init."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import check_model_dir, iter_tensors, load_state, weight_files
from ..config import QwenVLConfig, preset
from ..model import QWenLMHeadModel
from .config import ModelSpec


def build_model(spec: ModelSpec, path: str | Path | None = None, seed: int = 0) -> QWenLMHeadModel:
    """An fp32 model from `path` (default `spec.path`) or `spec.preset`, at `spec.image_size`.

    Changing the image size needs no weight surgery: the ViT keeps its 16×16 position table and
    interpolates it bicubically to the grid of each input (224 px → 16×16, 448 px → 32×32).
    Weights load row-major: the loader's decode-friendly storage would make training math depend on
    where the weights came from, and resume would not be exact.
    """
    path = path or spec.path
    if path is not None:
        cfg = _with_image_size(QwenVLConfig.load(check_model_dir(path)), spec.image_size)
        with torch.device("meta"):
            model = QWenLMHeadModel(cfg)
        load_state(model, iter_tensors(weight_files(Path(path))), torch.float32, "cpu", inference=False)
    else:
        base = preset(spec.preset)
        llm = dataclasses.replace(base.llm, **spec.llm)
        cfg = base.replace(llm=llm, vision=dataclasses.replace(base.vision, **spec.vision),
                           adapter=dataclasses.replace(base.adapter, output_dim=llm.hidden_size), torch_dtype="float32")
        cfg = _with_image_size(cfg, spec.image_size)
        torch.manual_seed(seed)
        model = QWenLMHeadModel(cfg)
        init_weights(model, cfg.llm.initializer_range)
    return model.train()


def _with_image_size(cfg: QwenVLConfig, size: int | None) -> QwenVLConfig:
    return cfg if size is None else cfg.replace(vision=dataclasses.replace(cfg.vision, image_size=size))


def init_weights(model: QWenLMHeadModel, std: float) -> None:
    """The official initialisation: N(0, std) for the LLM's linear and embedding weights, zero biases."""
    llm = [model.transformer.wte, model.transformer.h, model.lm_head]
    with torch.no_grad():
        for module in (m for part in llm for m in part.modules()):
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.normal_(0.0, std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.zero_()
        nn.init.trunc_normal_(model.transformer.visual.attn_pool.query, std=0.02)


def tokenizer_dir(spec: ModelSpec) -> Path:
    """The folder holding qwen.tiktoken (and the side files checkpoints copy)."""
    path = Path(spec.tokenizer or spec.path)
    return path.parent if path.is_file() else path
