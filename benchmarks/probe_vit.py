"""What a ViT's features say about a lone object: shape and colour read by a probe.

    python benchmarks/probe_vit.py --model runs/recipe/stage1 --steps 200 --threads 2
    python benchmarks/probe_vit.py --fresh --train-vit --steps 300   # can the miniature ViT learn it at all?

A single-object scene per row; a head (one attention query over the ViT's patch tokens, a
LayerNorm and a linear layer) learns to name the object's shape and colour on a training stream
and is scored on held-out scenes. With the ViT frozen (the default) this is the frozen-feature
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
from qwenvl.recipe.clip_pretrain import COLOUR_IDS, SHAPE_IDS, vit_tokens
from qwenvl.synthetic import sample_seed
from qwenvl.synthetic.scenes import SceneConfig, render_scene, sample_scene


class Probe(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, len(SHAPE_IDS) + len(COLOUR_IDS))

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.attn(self.query.expand(len(tokens), -1, -1), tokens, tokens, need_weights=False)[0][:, 0]
        out = self.head(self.ln(pooled)).float()
        return out[:, :len(SHAPE_IDS)], out[:, len(SHAPE_IDS):]


def batch(split: str, start: int, n: int, image_size: int, grid: int):
    config = SceneConfig(max_objects=1, grid=grid)
    scenes = [sample_scene(sample_seed("probe", 0, start + i, split), config) for i in range(n)]
    pixels = preprocess_batch([render_scene(s) for s in scenes], image_size)
    shapes = torch.tensor([SHAPE_IDS[s.objects[0].shape] for s in scenes])
    colours = torch.tensor([COLOUR_IDS[s.objects[0].colour] for s in scenes])
    return pixels, shapes, colours


def accuracy(visual, probe, held, chunk: int = 64) -> tuple[float, float]:
    pixels, shapes, colours = held
    right_s = right_c = 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(pixels), chunk):
            s, c = probe(vit_tokens(visual, pixels[i:i + chunk]))
            right_s += (s.argmax(1) == shapes[i:i + chunk]).sum().item()
            right_c += (c.argmax(1) == colours[i:i + chunk]).sum().item()
    return right_s / len(pixels), right_c / len(pixels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="an official-format checkpoint whose ViT is probed")
    source.add_argument("--fresh", action="store_true", help="the recipe's ViT at initialisation")
    parser.add_argument("--train-vit", action="store_true", help="train the ViT with the probe (supervised)")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--grid", type=int, default=SceneConfig().grid, help="scene lattice (0: off the lattice)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--held-out", type=int, default=256)
    parser.add_argument("--every", type=int, default=50, help="score the held-out set every this many steps")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    if args.fresh:
        from qwenvl.model import QWenLMHeadModel
        from qwenvl.recipe.sizes import init_miniature, miniature_config
        model = QWenLMHeadModel(miniature_config(1024, 1000, args.image_size))
        init_miniature(model)
    else:
        from qwenvl.checkpoint import load_model
        model = load_model(args.model, dtype="float32")
    visual = model.transformer.visual
    visual.requires_grad_(args.train_vit)
    probe = Probe(visual.cfg.width, visual.cfg.heads)
    params = list(probe.parameters()) + (list(visual.parameters()) if args.train_vit else [])
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.98), weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 20))
    held = batch("test", 0, args.held_out, args.image_size, args.grid)

    curve, began = [], time.perf_counter()
    for step in tqdm(range(1, args.steps + 1), desc="probe", unit="step"):
        pixels, shapes, colours = batch("train", step * args.batch, args.batch, args.image_size, args.grid)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            s, c = probe(vit_tokens(visual, pixels))
        loss = F.cross_entropy(s, shapes) + F.cross_entropy(c, colours)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
        if step % args.every == 0 or step == args.steps:
            shape_acc, colour_acc = accuracy(visual, probe, held)
            curve.append({"step": step, "shape": round(shape_acc, 3), "colour": round(colour_acc, 3),
                          "seconds": round(time.perf_counter() - began, 1)})
            tqdm.write(json.dumps(curve[-1]))
    print(json.dumps({"model": args.model or "fresh", "train_vit": args.train_vit, "grid": args.grid,
                      "image_size": args.image_size, "batch": args.batch, "chance_shape": round(1 / len(SHAPE_IDS), 3),
                      "curve": curve}, indent=2))


if __name__ == "__main__":
    main()
