"""Does the recipe's reading phase teach a fresh tower the letters? Its own head, scored per script.

    python benchmarks/reading_phase.py --steps 1000                                # as the recipe sets it
    python benchmarks/reading_phase.py --steps 600 --scenes 0 --english-only 1     # English text alone

The phase (`recipe.reading`) trains the ViT and the patch head; this runs it from the recipe's
initialisation and asks the head for the character over each patch of held-out pictures of
rendered text, English and Chinese apart (benchmarks/RESULTS.md, run 25).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import torch

from qwenvl.data.images import preprocess_batch
from qwenvl.model import QWenLMHeadModel
from qwenvl.recipe.data import SIZE
from qwenvl.recipe.dense import GLYPH_IDS, PATCH_CLASSES, patch_head, patch_labels
from qwenvl.recipe.loop import Schedule
from qwenvl.recipe.reading import pretrain_reading
from qwenvl.recipe.sizes import init_miniature, miniature_config
from qwenvl.recipe.stages import RECIPE
from qwenvl.synthetic import sample_seed
from qwenvl.synthetic.text_render import TextConfig, render_text_scene, sample_text_scene

CHAR = list(PATCH_CLASSES).index("char")
FIRST = sum(list(PATCH_CLASSES.values())[:CHAR])  # the head's first character logit


def head_accuracy(model, head, lang: str, n: int) -> dict:
    """The head's accuracy on the patches of `n` held-out pictures in `lang` that carry a character."""
    scenes = [sample_text_scene(sample_seed("reading_phase", 0, i, "test"), lang, TextConfig(size=SIZE))
              for i in range(n)]
    grid = SIZE // model.cfg.vision.patch_size
    labels = torch.tensor([patch_labels(s, grid)[CHAR] for s in scenes])
    pixels = preprocess_batch([render_text_scene(s) for s in scenes], SIZE)
    with torch.no_grad():
        said = head(model.transformer.visual.patches(pixels))[..., FIRST:FIRST + len(GLYPH_IDS)].argmax(-1)
    glyph = labels != len(GLYPH_IDS)
    return {"accuracy": round(float((said[glyph] == labels[glyph]).float().mean()), 3), "patches": int(glyph.sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    plan = RECIPE.reading
    parser.add_argument("--steps", type=int, default=plan.schedule.steps)
    parser.add_argument("--scenes", type=float, default=plan.scenes, help="share of each batch that is scenes")
    parser.add_argument("--english-only", type=float, default=plan.english_only,
                        help="share of the steps, from the start, before Chinese comes in")
    parser.add_argument("--scenes-from", type=float, default=plan.scenes_from,
                        help="share of the steps, from the start, before scenes come in")
    parser.add_argument("--batch", type=int, default=plan.batch_size)
    parser.add_argument("--held-out", type=int, default=128, help="pictures per script")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = QWenLMHeadModel(miniature_config(4096, 4000))
    init_miniature(model)
    head = patch_head(model.cfg.vision.width)
    s = plan.schedule
    schedule = Schedule(args.steps, s.lr, min(s.warmup, args.steps // 2), s.min_lr)
    reading = replace(plan, schedule=schedule, batch_size=args.batch, scenes=args.scenes,
                      english_only=args.english_only, scenes_from=args.scenes_from)
    summary = pretrain_reading(model, head, reading)
    scores = {lang: head_accuracy(model, head, lang, args.held_out) for lang in ("en", "zh")}
    print(json.dumps({"steps": args.steps, "scenes": args.scenes, "english_only": args.english_only,
                      "scenes_from": args.scenes_from,
                      "seconds": summary["seconds"], "heldout": scores}, indent=2))


if __name__ == "__main__":
    main()
