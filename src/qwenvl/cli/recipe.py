"""`qwenvl recipe`: train a whole miniature Qwen-VL from nothing, and evaluate each stage held out.

    qwenvl recipe --out runs/recipe                   # tokenizer, LM, CLIP, stages 1-3 (~60 min, 2 cores)
    qwenvl recipe --out runs/recipe --eval            # then score every stage on held-out sets
    qwenvl recipe --out runs/recipe --eval-only       # score the stages of an earlier run
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(p) -> None:
    p.add_argument("--out", type=Path, required=True, help="run folder: tokenizer, logs, one checkpoint per stage")
    p.add_argument("--minutes", type=float, default=60.0,
                   help="scale every phase's steps to this budget (60: the full recipe on two CPU cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    p.add_argument("--eval", action="store_true", help="after training, evaluate every stage on held-out sets")
    p.add_argument("--eval-only", action="store_true", help="only evaluate the stages already in --out")
    p.add_argument("--eval-n", type=int, default=200, help="held-out samples per synthetic task")
    p.add_argument("--eval-data", type=Path, default=None, help="where the held-out sets are (default: OUT/evalsets)")
    p.set_defaults(run=run)


def run(args) -> int:
    import torch

    from ..recipe.evaluate import evaluate_run, table_markdown, write_eval_sets
    from ..recipe.run import run_recipe
    from ..recipe.stages import STAGES

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.eval_only:
        summary = run_recipe(args.out, args.minutes, args.seed)
        print(json.dumps(summary, indent=2))
    if args.eval or args.eval_only:
        data = write_eval_sets(args.eval_data or args.out / "evalsets", args.eval_n, progress=True)
        stages = [s.name for s in STAGES if (args.out / s.name / "config.json").is_file()]
        if not stages:
            raise FileNotFoundError(f"no stage checkpoints in {args.out}")
        print(table_markdown(evaluate_run(args.out, stages, data)))
    return 0
