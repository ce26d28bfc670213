"""`qwenvl SUBCOMMAND …`: dispatch to the subcommand modules, turning known failures into clear errors."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "chat": ("qwenvl.cli.chat", "chat with a model about images (one answer, or interactive)"),
    "ground": ("qwenvl.cli.ground", "find an expression in an image and draw the boxes"),
    "demo": ("qwenvl.cli.demo", "run the shipped model on generated scenes and given images; write a report"),
    "train": ("qwenvl.cli.train", "train a stage from a config file (under torchrun for several processes)"),
    "finetune": ("qwenvl.cli.finetune", "fine-tune a checkpoint on the official fine-tuning JSON (full or LoRA)"),
    "eval": ("qwenvl.cli.eval", "evaluate a checkpoint on a benchmark or a synthetic task"),
    "serve": ("qwenvl.cli.serve", "serve a checkpoint over an OpenAI-compatible HTTP API with a web UI"),
    "recipe": ("qwenvl.cli.recipe", "train a whole miniature Qwen-VL from nothing, stage by stage"),
    "clean": ("qwenvl.cleaning.cli", "clean image-text corpora with the Qwen-VL rules"),
}


def common_model_args(p: argparse.ArgumentParser, default_model: bool = False) -> None:
    """Model flags; with `default_model`, --model may be left out for the shipped model."""
    if default_model:
        p.add_argument("--model", default=None, help="official-format checkpoint directory (default: the shipped model)")
    else:
        p.add_argument("--model", required=True, help="official-format checkpoint directory")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "auto"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    p.add_argument("--allow-remote-images", action="store_true", help="allow http(s) image URLs")


def generation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of the model's sampling")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--repetition-penalty", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)


def generation_overrides(args) -> dict:
    return dict(max_new_tokens=args.max_new_tokens, do_sample=False if args.greedy else None,
                temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                repetition_penalty=args.repetition_penalty, seed=args.seed)


def load(args):
    """The model named by --model with the CLI's dtype/device/threads/remote-image settings."""
    import torch

    from ..api import QwenVL
    from ..data.images import ImageLimits
    from ..default_model import default_model_path

    if args.threads:
        torch.set_num_threads(args.threads)
    return QwenVL.from_pretrained(args.model or default_model_path(), dtype=args.dtype, device=args.device,
                                  image_limits=ImageLimits(allow_remote=args.allow_remote_images))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qwenvl", description="Qwen-VL in pure PyTorch")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        importlib.import_module(module).add_parser(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    from ..checkpoint import CheckpointError
    from ..data.images import ImageError
    try:
        return args.run(args) or 0
    except (CheckpointError, ImageError, FileNotFoundError, NotImplementedError, ValueError) as e:
        print(f"qwenvl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
