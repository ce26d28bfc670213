"""Write an official-format checkpoint of any size with random weights (for benchmarks).

    python benchmarks/make_checkpoint.py OUT_DIR --preset bench-188m [--dtype bfloat16]
    python benchmarks/make_checkpoint.py OUT_DIR --hidden 512 --layers 6 ... (explicit sizes)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import torch

from qwenvl.checkpoint import save_model
from qwenvl.config import preset
from qwenvl.model import QWenLMHeadModel

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def build(args) -> QWenLMHeadModel:
    cfg = preset(args.preset)
    llm = {k: v for k, v in dict(hidden_size=args.hidden, num_hidden_layers=args.layers,
                                 num_attention_heads=args.heads, intermediate_size=args.intermediate,
                                 seq_length=args.seq_length).items() if v is not None}
    if "hidden_size" in llm:
        llm["kv_channels"] = llm["hidden_size"] // llm.get("num_attention_heads", cfg.llm.num_attention_heads)
    vis = {k: v for k, v in dict(width=args.vit_width, layers=args.vit_layers, heads=args.vit_heads,
                                 image_size=args.image_size).items() if v is not None}
    new_llm = dataclasses.replace(cfg.llm, **llm)
    cfg = cfg.replace(llm=new_llm, vision=dataclasses.replace(cfg.vision, **vis),
                      adapter=dataclasses.replace(cfg.adapter, output_dim=new_llm.hidden_size))
    torch.manual_seed(args.seed)
    model = QWenLMHeadModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1 and not name.endswith("pos_embed"):
                p.normal_(0, 0.02)
    return model.to(getattr(torch, args.dtype))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--preset", default="bench-188m")
    p.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--seed", type=int, default=0)
    for flag in ("hidden", "layers", "heads", "intermediate", "seq-length", "vit-width", "vit-layers", "vit-heads",
                 "image-size"):
        p.add_argument(f"--{flag}", type=int, default=None)
    args = p.parse_args()
    model = build(args)
    save_model(model, args.out)
    shutil.copyfile(SHARED / "qwen" / "qwen.tiktoken", args.out / "qwen.tiktoken")
    gen = json.loads((SHARED / "qwen" / "generation_config.json").read_text())
    (args.out / "generation_config.json").write_text(json.dumps(gen, indent=2))
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: {n / 1e6:.1f}M parameters, {args.dtype}")


if __name__ == "__main__":
    main()
