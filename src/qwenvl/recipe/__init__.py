"""Qwen-VL's whole training recipe in miniature, from nothing, on synthetic data, on a CPU.

    qwenvl recipe --out runs/recipe [--minutes 60] [--eval]

Phases, each a module:
- `tokenizer_train`: a byte-level BPE (≤ 8k ranks) in Qwen's `qwen.tiktoken` format;
- `lm_pretrain`: the small Qwen LLM pretrained on the text corpus (what Qwen-VL inherits from Qwen-7B);
- `clip_pretrain`: the ViT pretrained contrastively on image–caption pairs (what it inherits from OpenCLIP);
- `stages`: the paper's stages 1-3 as data (freezing, image size, task mix, schedule), run by
  `run` through `loop` on batches from `data`; every stage is saved as an official checkpoint;
- `evaluate`: held-out scores of every stage through the evaluation runners.
The model sizes are in `sizes`. The final chat model ships as `qwenvl/assets/default_model`.
"""

from .run import run_recipe
from .stages import RECIPE, STAGES, Recipe, Stage

__all__ = ["RECIPE", "STAGES", "Recipe", "Stage", "run_recipe"]
