"""The paper's three stages in miniature: what trains, at which image size, on what, for how long.

The freezing rules are the trainer's (`training.stages`): stage 1 trains the ViT and the adapter
with the LLM frozen, stage 2 everything, stage 3 the adapter and the LLM with the ViT frozen.
Stage 1 trains the vision tower at 0.1× its rate: at the full rate, 100 steps of captions
through the frozen LLM erased the shape that CLIP pretraining had put in its features
(frozen-feature probe 0.88 → 0.11; at 0.1×, 0.81 and a lower loss). Stage 2 trains it at 0.3×
the LLM's rate. There the tower must learn shape at 224 px, which CLIP and stage 1 (at 112 px) leave
weak: the frozen probe at 224 px reads shape 0.35 after stage 1 and 0.44-0.46 after stage 2
(runs 9-10). At the LLM's own rate the LLM read the picture less, even with the dense loss and the
two clip groups: run 11 fell to VQA 39.0 and grounding 6.0 from run 10's 43.4 and 14.0
(measured: benchmarks/RESULTS.md, the recipe).
Both stages that train the tower keep the `dense` patch loss of CLIP pretraining beside the LM
loss (`patch_loss`): what each patch shows and where is what the LLM must read out, and text
losses alone erode it (measured: stage 2 at 0.3× took shape from 0.83 to 0.65 in 150 steps).
Stages 2 and 3 train the LLM at 3e-4: the LLM learns to look an answer up in the picture only
after a plateau of a few hundred steps of scene questions, and at 1e-3 it did not leave the
plateau at all (measured: one-object colour questions from run 7's stage 2, `benchmarks/RESULTS.md`).
Stages 2 and 3 train one LLM head to look at the object each written box names (`recipe.lookup`).
It trades VQA for grounding (stage 3, grounding / VQA): none 21.0 / 45.1 (run 19), stage 3 only
31.0 / 41.5 (run 23), stages 2 and 3 47.5 / 36.5 and 52.5 / 38.0 (runs 20, 24), the last with the
most of the two and of multi-image together. Telling the head also what each answer without a box is read from took VQA
lower still (runs 21-22), so that stays off (`lookup_answers`). The head is in block 2: in block 1, whose input names the
phrase more clearly, grounding moved +2.5 (noise) and VQA fell 3.8, CIDEr 42 (run 33).
Multi-image answers told where the winning picture's objects are, and image tokens told where their
picture's number is (`lookup_answers=("multi",)`, `label_lookup`), were both learnt and did not move
multi-image off chance (run 37: 39.5; the answer writes a default number), so both stay off.
Between CLIP and stage 1 a reading phase trains the tower alone at 224 px on rendered text and scenes
(`reading`): it took stage-3 VQA shape from 16.0 to 39.5 (run 25), though the tower does not learn to read in it.
It runs 600 steps (`reading` says why), and the 4 minutes that saved go to stage 3 (run 32: VQA 58.6 against
run 31's 56.1, the rest level).
With the scenes only in its last 30% the tower reads (English 0.31 after stage 2) but shape and VQA
fall back, and no word is read out, with or without OCR answers told where each character is (runs 26-27).
Since a picture is 64 image tokens (`sizes`), a stage-2 step takes 0.6× the time it took with 256,
and stages 2-3 run 2000 and 1100 steps in the time 1430 and 806 took (run 28). Run 28 trained in 48 min
with stage 2's loss still falling; 2400 and 1200 steps (run 30: 51 min) moved only CIDEr (406 → 464).
Stage 3 pays more a step (0.37 s against stage 2's 0.51, the tower frozen): rerun alone from run 28's
stage 2 at 2200 steps instead of 1100 it took grounding from 59.0 to 64.5, VQA from 49.6 to 57.6 and
counting from 34 to 50. So stages 2-3 run 2000 and 2200 steps (run 31), and stage 3 2800 since run 32.
The resolution changes between stage 1 and stage 2 (112 → 224 px, the ViT's 16×16 position
table interpolated to 8×8 and then used as is), as 224 → 448 px does in the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..config import QwenVLConfig
from .data import Mix
from .loop import Schedule
from .reading import Reading
from .sizes import HIGH_RES, LOW_RES, miniature_config

# Stage 2 and 3 ask about scenes with the measured questions weighted up; the rest keeps the
# model able to do every task of the synthetic world.
SCENE_TASKS = {"grounding": 4.0, "vqa_colour": 1.0, "vqa_shape": 1.0, "vqa_count": 1.5, "vqa_position": 1.0,
               "vqa_yesno": 0.5, "caption": 0.75, "grounded_caption": 0.5, "region_caption": 0.5}
TEXT_TASKS = {"ocr": 3.0, "text_vqa": 1.0, "ocr_quad": 0.5}


@dataclass(frozen=True)
class Stage:
    name: str
    trainable: tuple[str, ...]
    image_size: int
    fmt: str  # "pretrain" rows or "chat" dialogues
    mix: Mix
    schedule: Schedule
    batch_size: int
    patch_loss: float = 0.0  # weight of the `dense` patch loss beside the LM loss (0: none)
    pool: int = 4  # batches drawn at once and batched by length (`data.GroupStream`)
    lookup: float = 0.0  # weight of the lookup supervision beside the LM loss (`recipe.lookup`; 0: none)
    lookup_head: tuple[int, int] = (2, 0)  # (block, head) it supervises
    # kinds of group ("scene", "text", "multi") whose answers without a box are told what they are read
    # from too (runs 21-22, every kind: VQA fell; run 27, text: no word read, VQA fell; run 37, multi: no gain)
    lookup_answers: tuple[str, ...] = ()
    label_lookup: float = 0.0  # weight of the picture-number lookups of multi-picture rows (`lookup.label_lookups`)
    label_head: tuple[int, int] = (0, 1)  # (block, head) they supervise


STAGES = (
    Stage("stage1", ("vit", "adapter"), LOW_RES, "pretrain",
          Mix({"scene": 1.0, "text": 1.0}, {"caption": 1.0}, {"ocr": 1.0}),
          Schedule(steps=260, lr=1e-3, warmup=26, min_lr=1e-4, vision_lr_scale=0.1), batch_size=16, patch_loss=1.0),
    Stage("stage2", ("vit", "adapter", "llm"), HIGH_RES, "pretrain",
          Mix({"scene": 3.0, "text": 2.0, "multi": 1.0}, SCENE_TASKS, TEXT_TASKS, turns=(6, 10), text_rows=0.03),
          Schedule(steps=2000, lr=3e-4, warmup=78, min_lr=1e-4, vision_lr_scale=0.3), batch_size=8, patch_loss=1.0,
          lookup=1.0),
    Stage("stage3", ("adapter", "llm"), HIGH_RES, "chat",
          Mix({"scene": 3.0, "text": 2.0, "multi": 1.0}, SCENE_TASKS, TEXT_TASKS, turns=(4, 8)),
          Schedule(steps=2800, lr=3e-4, warmup=99, min_lr=3e-5), batch_size=8, lookup=1.0),
)


@dataclass(frozen=True)
class Recipe:
    """Everything a run does, phase by phase; `RECIPE` is the 60-minute one."""

    model: Callable[[int, int], QwenVLConfig] = miniature_config  # (tokens, <img> id) → config
    n_ranks: int = 8192  # BPE ranks at most (the closed synthetic world needs fewer)
    corpus: tuple[int, int] = (10000, 400)  # tokenizer texts: corpus paragraphs, prompts per task
    lm: Schedule = Schedule(steps=910, lr=3e-4, warmup=20, min_lr=1e-4)  # at 1e-3 the lookup came later
    lm_batch: int = 16
    clip: Schedule = Schedule(steps=780, lr=1e-3, warmup=39, min_lr=1e-4)
    clip_batch: int = 64
    clip_size: int = LOW_RES
    # None: no reading phase
    reading: Reading | None = Reading(Schedule(steps=600, lr=1e-3, warmup=30, min_lr=3e-4), scenes=0.42)
    stages: tuple[Stage, ...] = STAGES


RECIPE = Recipe()
