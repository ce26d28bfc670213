"""What a ViT's features say about a lone object: shape, colour and place read by a probe.

    python benchmarks/probe_vit.py --model runs/recipe/stage1 --steps 200 --threads 2
    python benchmarks/probe_vit.py --model runs/recipe/stage3 --image-size 224 --where adapter
    python benchmarks/probe_vit.py --fresh --train-vit --steps 300   # can the miniature ViT learn it at all?

A single-object scene per row; a head (one attention query over the ViT's patch tokens, or over
the adapter's outputs, which the LLM reads, with `--where adapter`; a LayerNorm and a linear
layer) learns to name the object's shape, colour and the lattice column and row of its top-left
corner on a training stream, and is scored on held-out scenes. A grounding answer needs the
place: the query has no position of its own, so it reads one only if the tokens hold it. With the ViT frozen (the default) this is the frozen-feature
probe: what CLIP pretraining put in the features. `--train-vit` trains the ViT too, supervised:
the best the architecture does on the data in that many steps. `--grid 0` draws scenes off the
patch lattice (see `synthetic.scenes`).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from qwenvl.data.images import preprocess_batch
from qwenvl.recipe.dense import COLOUR_IDS, LATTICE, SHAPE_IDS
from qwenvl.synthetic import sample_seed
from qwenvl.synthetic.scenes import SceneConfig, render_scene, sample_scene
from qwenvl.training.precision import autocast

from probing import probe_options, probed_model


CLASSES = (len(SHAPE_IDS), len(COLOUR_IDS), LATTICE, LATTICE)
TARGETS = ("shape", "colour", "col", "row")


class Probe(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, sum(CLASSES))

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Logits of shape, colour, corner column and corner row."""
        pooled = self.attn(self.query.expand(len(tokens), -1, -1), tokens, tokens, need_weights=False)[0][:, 0]
        return self.head(self.ln(pooled)).float().split(CLASSES, dim=1)


def batch(split: str, start: int, n: int, image_size: int, grid: int):
    """Pictures of lone objects and their (n, 4) targets in `TARGETS` order."""
    config = SceneConfig(max_objects=1, grid=grid)
    scenes = [sample_scene(sample_seed("probe", 0, start + i, split), config) for i in range(n)]
    pixels = preprocess_batch([render_scene(s) for s in scenes], image_size)
    cell = config.size / LATTICE
    targets = torch.tensor([[SHAPE_IDS[o.shape], COLOUR_IDS[o.colour], int(o.box[0] // cell), int(o.box[1] // cell)]
                            for o in (s.objects[0] for s in scenes)])
    return pixels, targets


def accuracy(features, probe, held, chunk: int = 64) -> dict[str, float]:
    pixels, targets = held
    right = torch.zeros(len(TARGETS))
    with torch.no_grad(), autocast("cpu"):
        for i in range(0, len(pixels), chunk):
            for k, logits in enumerate(probe(features(pixels[i:i + chunk]))):
                right[k] += (logits.argmax(1) == targets[i:i + chunk, k]).sum()
    return {name: round(float(r) / len(pixels), 3) for name, r in zip(TARGETS, right)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="an official-format checkpoint whose ViT is probed")
    source.add_argument("--fresh", action="store_true", help="the recipe's ViT at initialisation")
    parser.add_argument("--train-vit", action="store_true", help="train the ViT with the probe (supervised)")
    parser.add_argument("--where", choices=("vit", "adapter"), default="vit",
                        help="probe the ViT's patch tokens or the adapter's outputs (the LLM's image tokens)")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--grid", type=int, default=SceneConfig().grid, help="scene lattice (0: off the lattice)")
    probe_options(parser, steps=200, batch=64, lr=1e-3, held_out=256, every=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = probed_model(args.model, args.image_size, args.train_vit)
    visual = model.transformer.visual
    visual.requires_grad_(args.train_vit)
    if args.where == "vit":
        features, width, heads = visual.patches, visual.cfg.width, visual.cfg.heads
    else:
        features, width, heads = visual, model.cfg.llm.hidden_size, model.cfg.llm.num_attention_heads
    probe = Probe(width, heads)
    params = list(probe.parameters()) + (list(visual.parameters()) if args.train_vit else [])
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.98), weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 20))
    held = batch("test", 0, args.held_out, args.image_size, args.grid)

    curve, began = [], time.perf_counter()
    for step in tqdm(range(1, args.steps + 1), desc="probe", unit="step"):
        pixels, targets = batch("train", step * args.batch, args.batch, args.image_size, args.grid)
        with autocast("cpu"):
            logits = probe(features(pixels))
        loss = sum(F.cross_entropy(x, targets[:, k]) for k, x in enumerate(logits))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
        if step % args.every == 0 or step == args.steps:
            curve.append({"step": step, **accuracy(features, probe, held),
                          "seconds": round(time.perf_counter() - began, 1)})
            tqdm.write(json.dumps(curve[-1]))
    print(json.dumps({"model": args.model or "fresh", "where": args.where, "train_vit": args.train_vit, "grid": args.grid,
                      "image_size": args.image_size, "batch": args.batch, "chance_shape": round(1 / len(SHAPE_IDS), 3),
                      "curve": curve}, indent=2))


if __name__ == "__main__":
    main()
