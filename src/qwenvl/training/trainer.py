"""The one trainer: every stage, full or LoRA, one process or several (torchrun), DDP or FSDP2.

Each step takes `accumulation` micro-batches, counts the supervised tokens of the whole global
batch, backpropagates every micro-batch's summed loss divided by that count (so the loss is
the mean over all supervised tokens, however samples are packed or spread over processes),
clips, steps, logs, and now and then writes a checkpoint from which `resume` continues exactly.
"""

from __future__ import annotations

import functools
import json
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_optimizer_state_dict)
from tqdm import tqdm

from ..checkpoint import save_model, save_state
from .build import build_model, tokenizer_dir
from .checkpointing import latest_checkpoint, read_optimizer_state, read_trainer_state, write_checkpoint
from .config import TrainConfig
from .datasets import TrainLoader
from .distributed import World, all_agree, all_sum, barrier, close_world, gather, gradient_sync, init_world, wrap
from .faults import exit_if_requested
from .lora import apply_lora, load_lora, merge, save_lora, trained_state
from .loss import LossModule, base_model
from .metrics import MetricsLog, plot_loss, postfix
from .optim import build_optimizer, build_scheduler, lr_factor
from .packing import Batch
from .precision import autocast, bf16_is_fast
from .stages import apply_stage, trains_vision


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Run (or with `resume`, continue) the training `cfg` describes; returns a summary on every rank."""
    world = init_world(cfg.run.device)
    try:
        return _train(cfg, resume, world, progress)
    finally:
        close_world()


def _train(cfg: TrainConfig, resume: bool, world: World, progress: bool) -> dict:
    out = Path(cfg.run.out_dir)
    ckpt = latest_checkpoint(out) if resume else None
    state = read_trainer_state(ckpt) if ckpt else None
    if state and state["world_size"] != world.size:
        raise ValueError(f"{ckpt} was written by {state['world_size']} process(es); resume with as many")
    model = setup_model(cfg, ckpt).to(world.device)
    base = base_model(model)
    wrapped = wrap(LossModule(model, base.cfg.vision.image_size, trains_vision(model)), cfg.run.parallel, world)
    optimizer = build_optimizer(model, cfg.optim, base.cfg.vision.layers)
    scheduler = build_scheduler(optimizer, cfg.optim)
    start = restore(state, ckpt, wrapped, optimizer, scheduler, world) if state else 0
    if world.is_main and resume:
        print(f"[{cfg.stage}] " + (f"resuming from {ckpt} (step {start})" if state else
                                   f"no checkpoint in {out}: starting from step 0"), file=sys.stderr)
    if not state:
        torch.manual_seed(cfg.run.seed + world.rank)
        random.seed(cfg.run.seed + world.rank)
    loader = TrainLoader(cfg.data, tokenizer_dir(cfg.model), base.cfg.vision.image_size, world.rank, world.size,
                         cfg.run.seed, state["ranks"][world.rank]["data"] if state else None,
                         pin_memory=world.device.type == "cuda")
    metrics = MetricsLog(out / "metrics.jsonl", start, enabled=world.is_main)
    if world.is_main:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n", encoding="utf-8")
    params = [p for p in model.parameters() if p.requires_grad]
    bf16 = all_agree(cfg.run.bf16 and bf16_is_fast(world.device.type), world)
    bar = tqdm(total=cfg.optim.steps, initial=start, unit="step", desc=cfg.stage, dynamic_ncols=True,
               disable=not (progress and world.is_main))
    began = time.perf_counter()
    for step in range(start + 1, cfg.optim.steps + 1):
        t0 = time.perf_counter()
        batches = [next(loader) for _ in range(cfg.optim.accumulation)]
        stats = train_step(wrapped, optimizer, params, batches, cfg, world, bf16)
        scheduler.step()
        seconds = time.perf_counter() - t0
        record = {"step": step, **stats, "lr": cfg.optim.lr * lr_factor(step - 1, cfg.optim),
                  "tokens_per_s": stats["tokens"] / seconds, "samples_per_s": stats["samples"] / seconds,
                  "step_s": seconds, "elapsed_s": time.perf_counter() - began, "peak_mem_mb": peak_memory_mb(world)}
        metrics.write(record)
        bar.set_postfix(postfix(record))
        bar.update()
        if step % cfg.run.save_every == 0 or step == cfg.optim.steps:
            save_checkpoint(cfg, step, model, wrapped, optimizer, scheduler, loader, world)
        exit_if_requested("AFTER_STEP", step)
    bar.close()
    return finish(cfg, model, loader, world, out)


def setup_model(cfg: TrainConfig, ckpt: Path | None) -> nn.Module:
    """The model to train: from the checkpoint when resuming, frozen per stage or wrapped for LoRA."""
    if cfg.lora is not None:
        model = apply_lora(build_model(cfg.model, seed=cfg.run.seed), cfg.lora)
        if ckpt:
            load_lora(model, ckpt / "lora")
    else:
        model = build_model(cfg.model, ckpt / "model" if ckpt else None, cfg.run.seed)
        apply_stage(model, cfg.trainable)
    base = base_model(model)
    base.transformer.gradient_checkpointing = cfg.run.activation_checkpointing
    base.transformer.visual.transformer.gradient_checkpointing = cfg.run.activation_checkpointing
    return model.train()


def train_step(loss_module: nn.Module, optimizer, params, batches: list[Batch], cfg: TrainConfig,
               world: World, bf16: bool) -> dict:
    """One optimizer step over the micro-batches, under bf16 autocast where `bf16` (the same on every
    process); returns the global mean loss and counts."""
    n_targets = max(all_sum([sum(b.n_targets for b in batches)], world)[0], 1.0)
    loss_sum = 0.0
    for i, batch in enumerate(batches):
        batch = batch.to(world.device)
        with gradient_sync(loss_module, i == len(batches) - 1), \
                autocast(world.device.type, bf16):
            loss = loss_module(batch)
            (loss * (world.size / n_targets)).backward()
        loss_sum += loss.item()
    grad_norm = clip_gradients(params, cfg.optim.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    total_loss, tokens, samples = all_sum([loss_sum, sum(b.n_tokens for b in batches),
                                           sum(b.n_samples for b in batches)], world)
    return {"loss": total_loss / n_targets, "grad_norm": grad_norm, "tokens": int(tokens), "samples": int(samples),
            "targets": int(n_targets)}


def clip_gradients(params: list[torch.Tensor], max_norm: float) -> float:
    """Clip to `max_norm` (≤ 0: only measure); the norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf"))
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)


def peak_memory_mb(world: World) -> float:
    if world.device.type == "cuda":
        return torch.cuda.max_memory_allocated(world.device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- checkpoints ----------------------------------------------------------------------------

def _options(world: World, **kw) -> StateDictOptions:
    return StateDictOptions(full_state_dict=True, cpu_offload=True, **kw) if world.size > 1 else StateDictOptions()


def save_checkpoint(cfg: TrainConfig, step: int, model: nn.Module, wrapped: nn.Module, optimizer, scheduler,
                    loader: TrainLoader, world: World) -> None:
    """Collect full weights, optimizer state and every rank's RNG and data position; rank 0 writes."""
    if cfg.lora is not None:
        write_weights = functools.partial(_write_lora, trained_state(model), cfg)
    else:
        weights = get_model_state_dict(wrapped, options=_options(world))  # names: "model." + official
        weights = {k.removeprefix("model."): v for k, v in weights.items()}
        write_weights = functools.partial(_write_model, weights, base_model(model).cfg, cfg)
    optimizer_state = get_optimizer_state_dict(wrapped, optimizer, options=_options(world))
    ranks = gather({"rng": rng_state(), "data": loader.state_dict()}, world)
    if world.is_main:
        trainer_state = {"step": step, "world_size": world.size, "scheduler": scheduler.state_dict(), "ranks": ranks}
        write_checkpoint(cfg.run.out_dir, step, write_weights, optimizer_state, trainer_state,
                         cfg.run.keep_checkpoints)
    barrier(world)


def _write_model(weights: dict, model_cfg, cfg: TrainConfig, ckpt_dir: Path) -> None:
    save_state(weights, model_cfg, ckpt_dir / "model", source_dir=tokenizer_dir(cfg.model))


def _write_lora(state: dict, cfg: TrainConfig, ckpt_dir: Path) -> None:
    save_lora(ckpt_dir / "lora", state, cfg.lora, cfg.model.path)


def restore(state: dict, ckpt: Path, wrapped: nn.Module, optimizer, scheduler, world: World) -> int:
    """Optimizer, schedule and this rank's RNG as they were at the checkpoint; returns its step."""
    full = read_optimizer_state(ckpt) if world.is_main or world.size == 1 else {}
    set_optimizer_state_dict(wrapped, optimizer, full, options=_options(world, broadcast_from_rank0=True))
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["ranks"][world.rank]["rng"])
    return state["step"]


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    random.setstate(s["python"])
    if s["cuda"]:
        torch.cuda.set_rng_state_all(s["cuda"])


# ---- the end of a run -----------------------------------------------------------------------

def finish(cfg: TrainConfig, model: nn.Module, loader: TrainLoader, world: World, out: Path) -> dict:
    """Report skipped records (all ranks), draw the loss curve, merge LoRA weights into a model."""
    per_rank = gather(loader.skipped(), world)
    summary = {"steps": cfg.optim.steps, "checkpoint": str(latest_checkpoint(out))}
    if world.is_main:
        skipped: dict[str, Counter] = {}
        for counts in per_rank:
            for name, c in counts.items():
                skipped.setdefault(name, Counter()).update(c)
        summary["skipped"] = {name: dict(c) for name, c in skipped.items()}
        (out / "data_report.json").write_text(json.dumps(summary["skipped"], indent=2) + "\n", encoding="utf-8")
        print(f"[{cfg.stage}] skipped records: {summary['skipped'] or 'none'}", file=sys.stderr)
        plot_loss(out / "metrics.jsonl", out / "loss.png", title=cfg.stage)
        if cfg.lora is not None:
            save_model(merge(model), out / "merged", source_dir=tokenizer_dir(cfg.model))
            summary["merged"] = str(out / "merged")
    barrier(world)
    return summary
