"""The recipe's training loop: the trainer's parts (stage freezing, AdamW with the paper's betas,
warm-up + cosine, per-step metrics) driven by an in-process synthetic stream.

Why not `training.trainer` itself: it reads datasets from disk (manifests or shards), and on two
CPU cores the recipe cannot afford to write and decode every picture, nor the output layer over
the 256 image positions of each picture, which are never supervised. The loss here projects
only the supervised positions; otherwise a step is the trainer's step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..training.config import OptimConfig
from ..training.metrics import MetricsLog
from ..training.optim import build_optimizer, build_scheduler
from ..training.packing import Batch
from ..training.precision import autocast
from ..training.samples import IGNORE
from .prefetch import Prefetched


@dataclass(frozen=True)
class Schedule:
    """Steps and learning rates of one phase (AdamW β = (0.9, 0.98), ε = 1e-6 as in the paper)."""

    steps: int
    lr: float
    warmup: int = 50
    min_lr: float = 0.0
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    vit_layer_decay: float = 1.0
    vision_lr_scale: float = 1.0  # the vision tower's lr against the LLM's (see `training.optim`)

    def scaled(self, factor: float) -> "Schedule":
        """The same schedule over `factor` times the steps (at least 2), warm-up scaled alike."""
        steps = max(2, round(self.steps * factor))
        return Schedule(steps, self.lr, max(1, min(round(self.warmup * factor), steps // 2)), self.min_lr,
                        self.weight_decay, self.grad_clip, self.vit_layer_decay, self.vision_lr_scale)

    def optim(self) -> OptimConfig:
        return OptimConfig(lr=self.lr, min_lr=self.min_lr, weight_decay=self.weight_decay, warmup_steps=self.warmup,
                           steps=self.steps, grad_clip=self.grad_clip, vit_layer_decay=self.vit_layer_decay,
                           vision_lr_scale=self.vision_lr_scale)


def lm_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Mean next-token cross-entropy over the supervised positions; logits only where needed."""
    return text_loss(model, batch, model.encode_images(batch.pixels) if batch.pixels is not None else None)


def item_loss(model: nn.Module, item) -> torch.Tensor:
    """`lm_loss` of a `data.Item`'s batch (a stream that carries lookups yields items)."""
    return lm_loss(model, item.batch)


def text_loss(model: nn.Module, batch: Batch, features: torch.Tensor | None) -> torch.Tensor:
    """`lm_loss` with the pictures' features already computed."""
    keep = batch.targets != IGNORE
    hidden = model.transformer(batch.input_ids, features, batch.positions, batch.attention_mask, select=keep)
    logits = model.lm_head(hidden).float()
    return F.cross_entropy(logits, batch.targets[keep])


def clip_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """The trainable parameters split where gradients are clipped apart: one group, unless `model`
    names its own (`PatchSupervised`: the ViT with the patch head, and the rest)."""
    if hasattr(model, "clip_groups"):
        return model.clip_groups()
    return [[p for p in model.parameters() if p.requires_grad]]


def train(model: nn.Module, batches: Iterator, schedule: Schedule, name: str, out_dir: Path | None = None,
          loss_fn: Callable = lm_loss, vit_layers: int = 0, progress: bool = True, ahead: bool = False) -> dict:
    """Run `schedule` over `batches` on the parameters that require gradients; returns a summary.
    The logged grad norm is that of the first clip group.

    With `ahead`, batches are drawn a step ahead in a thread (`prefetch`). That pays where drawing
    is mostly Pillow and NumPy, which release the GIL: CLIP's and the reading phase's pictures.
    Where making a batch is mostly Python (templates, tokenizing, lookup plans) the thread holds the
    GIL against the step's own dispatch, and steps ran 3-12% slower with it than without (LM,
    stages 1-3; benchmarks/RESULTS.md, "Drawing batches a step ahead, phase by phase").
    """
    groups = clip_groups(model)
    optimizer = build_optimizer(model, schedule.optim(), vit_layers)
    scheduler = build_scheduler(optimizer, schedule.optim())
    log = MetricsLog(Path(out_dir or ".") / f"{name}.metrics.jsonl", 0, enabled=out_dir is not None)
    model.train()
    losses, began = [], time.perf_counter()
    with (tqdm(total=schedule.steps, desc=name, unit="step", dynamic_ncols=True, disable=not progress) as bar,
          Prefetched(batches) if ahead else nullcontext(iter(batches)) as drawn):
        for step in range(1, schedule.steps + 1):
            batch = next(drawn)
            with autocast("cpu"):
                loss = loss_fn(model, batch)
            loss.backward()
            norms = [torch.nn.utils.clip_grad_norm_(group, schedule.grad_clip) for group in groups]
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"{name}: loss became {value} at step {step}")
            losses.append(value)
            log.write({"step": step, "loss": value, "grad_norm": float(norms[0]), "lr": scheduler.get_last_lr()[0],
                       "elapsed_s": time.perf_counter() - began})
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
            bar.update()
    model.eval()
    tail = losses[-max(1, len(losses) // 10):]
    return {"steps": schedule.steps, "seconds": round(time.perf_counter() - began, 1),
            "final_loss": round(sum(tail) / len(tail), 4)}
