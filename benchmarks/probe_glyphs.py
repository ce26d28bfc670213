"""What a ViT's patch tokens say about rendered text: the character over each patch, read by a linear probe.

    python benchmarks/probe_glyphs.py --model runs/recipe/stage2 --steps 300 --threads 1
    python benchmarks/probe_glyphs.py --model runs/recipe/stage3 --where adapter   # the LLM's image tokens
    python benchmarks/probe_glyphs.py --fresh                                       # the untrained tower
    python benchmarks/probe_glyphs.py --fresh --train-vit --vit-lr 1e-3 --lang en --steps 1500  # can a tower learn it?

No model has read a word of the synthetic OCR sets (benchmarks/RESULTS.md). This tells the two halves
apart: if a linear layer on the frozen tokens names the character over each patch, the picture holds
the text and the LLM is what does not read it. Pictures of rendered text (English and Chinese, drawn
as the recipe draws them); every patch is labelled as `recipe.dense` labels it (`char`: the character
drawn over the patch's centre, or none); the probe (LayerNorm and a linear layer per token) trains on
a stream and is scored on held-out pictures: accuracy on the patches that carry a character, and
the share of those a probe that always names the commonest character would get. The probe learns
only on patches that carry a character: it is asked which one, not whether there is one.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from qwenvl.data.images import preprocess_batch
from qwenvl.recipe.data import SIZE
from qwenvl.recipe.dense import CHINESE_GLYPHS, GLYPH_IDS, PATCH_CLASSES, patch_labels
from qwenvl.synthetic import sample_seed
from qwenvl.synthetic.text_render import TextConfig, render_text_scene, sample_text_scene
from qwenvl.training.precision import autocast

from probing import probe_options, probed_model

NONE = len(GLYPH_IDS)  # the label of a patch with no character
CHAR = list(PATCH_CLASSES).index("char")


def batch(split: str, start: int, n: int, image_size: int, grid: int, langs: tuple[str, ...] = ("en", "zh"),
          text: TextConfig = TextConfig(size=SIZE)) -> tuple[torch.Tensor, torch.Tensor]:
    """Pictures of rendered text in `langs` and each patch's character label, (n, grid²)."""
    scenes = []
    for i in range(n):
        seed = sample_seed("probe_glyphs", 0, start + i, split)
        scenes.append(sample_text_scene(seed, random.Random(seed).choice(langs), text))
    labels = torch.tensor([patch_labels(s, grid)[CHAR] for s in scenes])
    return preprocess_batch([render_text_scene(s) for s in scenes], image_size), labels


def score(features, probe, held, chunk: int = 64) -> dict[str, float]:
    """Accuracy on the held-out patches that carry a character, over all and per script."""
    pixels, labels = held
    right, total = Counter(), Counter()
    with torch.no_grad(), autocast("cpu"):
        for i in range(0, len(pixels), chunk):
            guess = probe(features(pixels[i:i + chunk])).argmax(-1)
            for truth, said in zip(labels[i:i + chunk].flatten().tolist(), guess.flatten().tolist()):
                if truth != NONE:
                    script = "zh" if truth in CHINESE_GLYPHS else "en"
                    total[script] += 1
                    right[script] += truth == said
    out = {"glyph_accuracy": round(sum(right.values()) / max(sum(total.values()), 1), 3),
           "glyph_patches": sum(total.values())}
    for script in ("en", "zh"):
        out[f"{script}_accuracy"], out[f"{script}_patches"] = round(right[script] / max(total[script], 1), 3), total[script]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="an official-format checkpoint whose ViT is probed")
    source.add_argument("--fresh", action="store_true", help="the recipe's ViT at initialisation")
    parser.add_argument("--where", choices=("vit", "adapter"), default="vit",
                        help="the ViT's patch tokens or the adapter's outputs (the LLM's image tokens)")
    parser.add_argument("--train-vit", action="store_true",
                        help="train the ViT with the probe: can the tower learn the characters at all?")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--lang", nargs="+", choices=("en", "zh"), default=["en", "zh"], help="scripts of the text drawn")
    parser.add_argument("--font-size", type=float, nargs=2, default=TextConfig.font_size, metavar=("LOW", "HIGH"),
                        help="font sizes drawn, as fractions of the picture's side")
    parser.add_argument("--vit-lr", type=float, help="the tower's rate with --train-vit (default: a tenth of --lr)")
    probe_options(parser, steps=300, batch=32, lr=3e-3, held_out=128, every=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = probed_model(args.model, args.image_size, args.train_vit)
    visual = model.transformer.visual.requires_grad_(args.train_vit)
    grid = args.image_size // visual.cfg.patch_size
    if args.where == "vit":
        features, width = visual.patches, visual.cfg.width
    else:
        if model.cfg.adapter.n_queries != grid * grid:
            raise SystemExit(f"--where adapter needs one query a patch: {model.cfg.adapter.n_queries} queries, "
                             f"{grid}² patches")
        features, width = visual, model.cfg.llm.hidden_size
    probe = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, NONE))  # which character, where there is one
    groups = [{"params": list(probe.parameters())}]
    if args.train_vit:
        groups.append({"params": list(visual.parameters()), "lr": args.vit_lr or args.lr / 10})
    params = [p for group in groups for p in group["params"]]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, weight_decay=0.01)
    drawn = dict(langs=tuple(args.lang), text=TextConfig(size=SIZE, font_size=tuple(args.font_size)))
    held = batch("test", 0, args.held_out, args.image_size, grid, **drawn)
    common = Counter(int(c) for c in held[1].flatten() if c != NONE).most_common(1)[0][1]

    curve, began = [], time.perf_counter()
    for step in tqdm(range(1, args.steps + 1), desc="probe", unit="step"):
        pixels, labels = batch("train", step * args.batch, args.batch, args.image_size, grid, **drawn)
        with torch.set_grad_enabled(args.train_vit), autocast("cpu"):
            tokens = features(pixels)
        loss = F.cross_entropy(probe(tokens.float()).flatten(0, 1), labels.flatten(), ignore_index=NONE)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % args.every == 0 or step == args.steps:
            curve.append({"step": step, **score(features, probe, held), "seconds": round(time.perf_counter() - began, 1)})
            tqdm.write(json.dumps(curve[-1]))
    print(json.dumps({"model": args.model or "fresh", "where": args.where, "train_vit": args.train_vit,
                      "image_size": args.image_size, "lang": args.lang, "font_size": args.font_size,
                      "commonest_character": round(common / curve[-1]["glyph_patches"], 3), "curve": curve}, indent=2))


if __name__ == "__main__":
    main()
