"""The whole recipe, one call: tokenizer → text LM → CLIP ViT → reading ViT → stages 1-3, each saved.

Step counts are fixed for a 60-minute run on two CPU cores and scale with `minutes`, so a run is
a pure function of (minutes, seed) and a shorter one is the same recipe with fewer steps.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import save_state
from ..interface.tokenizer import QwenTokenizer
from ..model import QWenLMHeadModel
from ..training.stages import apply_stage
from .clip_pretrain import pretrain_clip
from .data import GroupStream
from .lm_pretrain import pretrain_lm
from .dense import PatchSupervised, patch_head, supervised_lm_loss
from .lookup import with_lookup
from .loop import item_loss, lm_loss, train
from .reading import pretrain_reading
from .sizes import init_miniature
from .stages import RECIPE, Recipe, Stage
from .tokenizer_train import build_tokenizer

REFERENCE_MINUTES = 60
SUMMARY = "recipe.json"


def side_files(path: Path, tokenizer: QwenTokenizer, chat: bool) -> None:
    """The files an official checkpoint carries beside its weights, for the recipe's tokenizer.

    Base models (stages 1-2) continue raw prompts; the chat model speaks ChatML. Decoding is
    greedy by default: a model this small answers best with its most likely tokens.
    """
    generation = {"chat_format": "chatml" if chat else "raw", "eos_token_id": tokenizer.eod_id,
                  "pad_token_id": tokenizer.eod_id, "max_window_size": 6144, "max_new_tokens": 512,
                  "do_sample": False, "top_k": 0, "top_p": 1.0}
    (path / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 8192,
                                                            "tokenizer_class": "QWenTokenizer"}, indent=2) + "\n")


def save_stage(model: QWenLMHeadModel, stage: Stage, out: Path, tokenizer: QwenTokenizer) -> Path:
    """An official-format directory with bfloat16 weights and the stage's image size."""
    cfg = model.cfg.replace(vision=dataclasses.replace(model.cfg.vision, image_size=stage.image_size))
    state = {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    path = out / stage.name
    save_state(state, cfg, path, source_dir=tokenizer.vocab_file.parent)
    side_files(path, tokenizer, chat=stage.fmt == "chat")
    return path


def run_stage(model: QWenLMHeadModel, stage: Stage, tokenizer: QwenTokenizer, factor: float, seed: int,
              out: Path, progress: bool, head: nn.Module) -> dict:
    """One stage; with `stage.patch_loss` its pictures' patches are supervised through `head` too."""
    apply_stage(model, list(stage.trainable))
    side = stage.image_size // model.cfg.vision.patch_size
    grid = side if stage.patch_loss else 0
    looks = bool(stage.lookup or stage.label_lookup)  # items carry lookup plans
    stream = GroupStream(tokenizer, stage.mix, stage.fmt, stage.image_size, stage.batch_size, seed, stage.name,
                         patch_grid=grid, pool=stage.pool, lookup_grid=model.cfg.adapter.grid if looks else 0,
                         answer_lookups=stage.lookup_answers, label_lookups=bool(stage.label_lookup))
    trained, loss_fn = (PatchSupervised(model, head, stage.patch_loss), supervised_lm_loss) if grid else (model, lm_loss)
    if looks and not grid:
        loss_fn = item_loss
    lookups = []
    if stage.lookup:
        loss_fn, lookup = with_lookup(loss_fn, model, stage.lookup, *stage.lookup_head)
        lookups.append(lookup)
    if stage.label_lookup:
        loss_fn, lookup = with_lookup(loss_fn, model, stage.label_lookup, *stage.label_head, plan=lambda item: item.labels)
        lookups.append(lookup)
    try:
        return train(trained, stream, stage.schedule.scaled(factor), stage.name, out / "logs", loss_fn=loss_fn,
                     vit_layers=model.cfg.vision.layers, progress=progress)
    finally:
        for lookup in lookups:
            lookup.close()


def run_recipe(out_dir: str | Path, minutes: float = REFERENCE_MINUTES, seed: int = 0, progress: bool = True,
               recipe: Recipe = RECIPE) -> dict:
    """Train every phase of `recipe` into `out_dir`; returns (and writes) the per-phase summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    factor = minutes / REFERENCE_MINUTES
    began = time.perf_counter()
    phases: dict[str, dict] = {}

    t0 = time.perf_counter()
    ranks = build_tokenizer(out / "tokenizer" / "qwen.tiktoken", recipe.n_ranks, *recipe.corpus, seed=seed)
    tokenizer = QwenTokenizer(ranks)
    cfg = recipe.model(tokenizer.vocab_size, tokenizer.img_start_id)
    tokenizer = QwenTokenizer(ranks, image_tokens=cfg.adapter.n_queries)  # a picture's span: one position a query
    phases["tokenizer"] = {"ranks": len(tokenizer.mergeable_ranks), "seconds": round(time.perf_counter() - t0, 1)}

    torch.manual_seed(seed)
    model = QWenLMHeadModel(cfg)
    init_miniature(model)
    logs = out / "logs"
    phases["lm"] = pretrain_lm(model, tokenizer, recipe.lm.scaled(factor), recipe.lm_batch, seed, logs, progress)
    head = patch_head(model.cfg.vision.width)
    phases["clip"] = pretrain_clip(model, tokenizer, recipe.clip.scaled(factor), recipe.clip_size, recipe.clip_batch,
                                   seed, logs, progress, head)
    if recipe.reading is not None:
        phases["reading"] = pretrain_reading(model, head, recipe.reading, factor, seed, logs, progress)
    for stage in recipe.stages:
        phases[stage.name] = run_stage(model, stage, tokenizer, factor, seed, out, progress, head)
        phases[stage.name]["checkpoint"] = str(save_stage(model, stage, out, tokenizer))
    summary = {"minutes_budget": minutes, "seed": seed, "threads": torch.get_num_threads(),
               "seconds": round(time.perf_counter() - began, 1), "phases": phases}
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
