"""`qwenvl finetune`: fine-tune a released checkpoint on the official fine-tuning JSON, in full or with LoRA.

    qwenvl finetune --model Qwen-VL-Chat --data train.json --out runs/ft [--lora] [key=value ...]
    qwenvl finetune --merge runs/ft/checkpoints/step-00001000/lora --out merged/

Defaults follow the official `finetune.py` scripts: the ViT frozen (adapter + LLM trained), lr 1e-5
with 1% warm-up and a cosine decay, AdamW (0.9, 0.95) with weight decay 0.1, 2048 tokens, 16
accumulated micro-batches; LoRA r 64, alpha 16, dropout 0.05 on c_attn, attn.c_proj, w1, w2 with
the adapter trained in full. A config file and `key=value` overrides change anything (see
configs/). Several processes: `torchrun --nproc_per_node N -m qwenvl.cli.finetune ...`.
"""

from __future__ import annotations

import argparse
import math
import sys

DEFAULTS = {
    "stage": "finetune",
    "trainable": ["adapter", "llm"],
    "data": {"seq_len": 2048, "batch_size": 1, "workers": 1},
    "optim": {"lr": 1e-5, "min_lr": 0.0, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1,
              "grad_clip": 1.0, "accumulation": 16, "vit_layer_decay": 1.0},
    "run": {"save_every": 500, "bf16": True},
}


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="official-format checkpoint to fine-tune (with --merge: its base, "
                                    "default the one recorded in the LoRA checkpoint)")
    p.add_argument("--data", action="append", default=[],
                   help="official fine-tuning JSON/JSONL (or LLaVA JSON); repeatable")
    p.add_argument("--images", default=None, help="folder image paths are relative to (default: the JSON's)")
    p.add_argument("--out", help="run folder (checkpoints, metrics), or with --merge the merged model folder")
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps")
    p.add_argument("--lora", action="store_true", help="train LoRA weights instead of the full model")
    p.add_argument("--lora-targets", default="llm", help="comma-separated groups (llm, adapter, vit) or regexes")
    p.add_argument("--lora-full", default="adapter", help="comma-separated groups trained in full beside LoRA")
    p.add_argument("--lora-r", type=int, default=64)
    p.add_argument("--config", default=None, help="YAML/TOML config applied over the defaults")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--merge", metavar="LORA_DIR", help="merge a LoRA checkpoint into a standalone model at --out")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=2e-5")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.merge:
        return merge(args)
    from pathlib import Path

    from ..training.config import load_config, read_file
    from ..training.config import merge as merge_dicts
    from ..training.trainer import train

    if not args.model or not args.data or not args.out:
        raise ValueError("finetune needs --model, --data and --out (or --merge LORA_DIR --out DIR)")
    flags = {"model": {"path": args.model},
             "data": {"datasets": [{"path": d, "root": args.images, "task": "prompt_answer"} for d in args.data]},
             "optim": {"steps": args.steps, "warmup_steps": math.ceil(0.01 * args.steps)},
             "run": {"out_dir": args.out}}
    if args.lora:
        flags["lora"] = {"r": args.lora_r, "alpha": 16, "dropout": 0.05,
                         "targets": _list(args.lora_targets), "full": _list(args.lora_full)}
    # defaults < config file < flags < key=value overrides
    layered = merge_dicts(merge_dicts(DEFAULTS, read_file(Path(args.config)) if args.config else {}), flags)
    cfg = load_config(None, args.overrides, layered)
    summary = train(cfg, resume=args.resume, progress=not args.no_progress)
    if "merged" in summary:
        print(f"merged model: {summary['merged']}", file=sys.stderr)
    return 0


def merge(args) -> int:
    from ..training.lora import merge_checkpoint

    if not args.out:
        raise ValueError("--merge needs --out, the folder for the merged model")
    print(f"merged model: {merge_checkpoint(args.merge, args.out, args.model)}", file=sys.stderr)
    return 0


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qwenvl finetune", description=__doc__.splitlines()[0])
    add_parser(parser)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
