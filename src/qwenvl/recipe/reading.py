"""Training the ViT on rendered text at 224 px between CLIP and stage 1: the character over every patch.

No model read a word of the OCR sets while the only lessons on text were CLIP's (at 112 px, where
a character is smaller than a patch) and the stages' few thousand OCR pictures: a probe read no
character from any tower trained that way (benchmarks/RESULTS.md, the glyph probe). Trained for it
alone, on English text and the `dense` label `char`, a fresh tower names the letter over a patch
with accuracy 0.10 → 0.23 → 0.41 → 0.51 → 0.62 after 250 / 500 / 750 / 1000 / 1500 steps of 32
pictures; one that met English and Chinese from the start was still at 0.05 after 1000 steps.
As set here (a quarter of each batch scenes, Chinese from 40% of the steps) the phase teaches no
letter: its head names none better than the commonest one (0.12), and run 25's towers read nothing.
The scenes' own labels are what stall it: 600 steps of English text alone read 0.38, with a quarter
scenes 0.12, and 0.12 still with the scenes' patches given no character label. With scenes only in
the last 30% of the steps (`scenes_from` 0.7) it reads 0.27 (Chinese 0.04), and run 26's tower read
0.31 after stage 2, but its stage-3 VQA fell from 41.1 to 33.9 (shape from 39.5 to 22.0) and its
LLM still read no word. So the phase keeps run 25's order, the best measured end to end: training
the tower at 224 px on scenes' patch labels before stage 2 took stage-3 VQA shape from 16.0 to 39.5
and CIDEr from 214 to 237 (measured: benchmarks/RESULTS.md, runs 25-27). Since run 32 the recipe
runs it for 600 steps with 42% scenes, about the scene pictures of 1000 steps at 25%, in 5 minutes
instead of 9, with stage 3 the longer for it.
The patch head is the one CLIP trained and the stages go on training.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data.images import preprocess_batch
from ..synthetic import child_seed, sample_seed
from ..synthetic.scenes import SceneConfig, render_scene, sample_scene
from ..synthetic.text_render import TextConfig, render_text_scene, sample_text_scene
from ..training.stages import apply_stage
from .data import SIZE
from .dense import dense_loss, patch_labels
from .loop import Schedule, train


@dataclass(frozen=True)
class Reading:
    """The phase's schedule and what its batches hold."""

    schedule: Schedule
    batch_size: int = 32
    image_size: int = SIZE
    scenes: float = 0.25  # share of each batch that is object scenes
    english_only: float = 0.4  # share of the steps, from the start, before Chinese text comes in
    chinese: float = 0.5  # share of text pictures in Chinese after that
    scenes_from: float = 0.0  # share of the steps, from the start, before scenes come in (run 26: 0.7)


def picture(seed: int, chinese: float, scenes: float, grid: int) -> tuple:
    """(picture, patch labels): an object scene with probability `scenes`, otherwise rendered
    text, in Chinese with probability `chinese`."""
    rng = random.Random(seed)
    if rng.random() < scenes:
        scene = sample_scene(child_seed(seed, "scene"), SceneConfig(size=SIZE))
        return render_scene(scene), patch_labels(scene, grid)
    lang = "zh" if rng.random() < chinese else "en"
    text = sample_text_scene(child_seed(seed, "text"), lang, TextConfig(size=SIZE))
    return render_text_scene(text), patch_labels(text, grid)


def reading_batches(plan: Reading, steps: int, patch_size: int, seed: int) -> Iterator[tuple]:
    """(pixels, labels) per step: English text first, then English and Chinese (`Reading`)."""
    grid = plan.image_size // patch_size
    for step in range(steps):
        chinese = 0.0 if step < plan.english_only * steps else plan.chinese
        scenes = 0.0 if step < plan.scenes_from * steps else plan.scenes
        pairs = [picture(sample_seed("reading", seed, step * plan.batch_size + i, "train"), chinese, scenes, grid)
                 for i in range(plan.batch_size)]
        yield preprocess_batch([p[0] for p in pairs], plan.image_size), torch.tensor([p[1] for p in pairs])


class PatchReader(nn.Module):
    """The ViT trunk and the patch head: the dense loss of a batch of pictures."""

    def __init__(self, visual: nn.Module, head: nn.Module):
        super().__init__()
        self.visual, self.patch_head = visual, head

    def forward(self, pixels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return dense_loss(self.patch_head, self.visual.patches(pixels), labels)


def pretrain_reading(model, head: nn.Module, plan: Reading, factor: float = 1.0, seed: int = 0,
                     out_dir: Path | None = None, progress: bool = True) -> dict:
    """Train `model`'s ViT trunk and the patch `head` on `plan`, at `plan.image_size` (the ViT's
    position table is interpolated to it, as in every stage)."""
    apply_stage(model, ["vit"])
    schedule = plan.schedule.scaled(factor)
    batches = reading_batches(plan, schedule.steps, model.cfg.vision.patch_size, seed)
    reader = PatchReader(model.transformer.visual, head)
    return train(reader, batches, schedule, "reading", out_dir, loss_fn=lambda m, batch: m(*batch),
                 progress=progress, ahead=True)
