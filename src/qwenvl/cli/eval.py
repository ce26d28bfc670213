"""`qwenvl eval`: run a benchmark (or a synthetic family) on a model, resumably and across processes.

    qwenvl eval --model DIR --task vqav2_val --data DIR [--images DIR] [--limit N] [--batch-size B]
    torchrun --nproc-per-node 8 -m qwenvl.cli.main eval --model DIR --task … --data …

Predictions go to --out as they are made; rerunning the same command resumes, and the rank-0
process writes results.json and report.md once every item has its prediction.
"""

from __future__ import annotations

import os
from pathlib import Path

from .main import common_model_args, load


def add_parser(p) -> None:
    common_model_args(p)
    p.add_argument("--task", required=True,
                   help="a benchmark (vqav2_val, refcoco_testA, mmbench_dev, …) or a synthetic family "
                        "(synth_grounding, …); an unknown name lists them all")
    p.add_argument("--data", required=True, type=Path, help="the benchmark's annotation file or folder")
    p.add_argument("--images", type=Path, default=None, help="image folder (default: beside the annotations)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: runs/eval/TASK-MODELNAME)")
    p.add_argument("--format", default="auto", choices=["auto", "base", "chat"],
                   help="prompt format; auto: chat for ChatML checkpoints, base otherwise")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N items")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--shots", type=int, default=0, help="in-context examples per question (few-shot)")
    p.add_argument("--shots-data", type=Path, default=None,
                   help="annotation file to draw examples from (default: --data itself)")
    p.add_argument("--seed", type=int, default=0, help="seed of the few-shot example choice")
    p.add_argument("--max-new-tokens", type=int, default=None, help="override the task's answer length")
    p.add_argument("--samples", type=int, default=6, help="sample items shown in the report")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..evaluation.runner import EvalSettings, run_eval
    from ..evaluation.sharding import Shard
    from ..evaluation.tasks import get_task

    get_task(args.task)  # an unknown name fails before the model loads
    shard = Shard.from_env()
    if args.device == "cuda" and shard.world > 1:
        args.device = f"cuda:{os.environ.get('LOCAL_RANK', shard.rank)}"
    out = args.out or Path("runs") / "eval" / f"{args.task}-{Path(args.model).resolve().name}"
    settings = EvalSettings(task=args.task, data=args.data, out=out, model=str(args.model), images=args.images,
                            format=args.format, limit=args.limit, batch_size=args.batch_size, shots=args.shots,
                            shots_data=args.shots_data, seed=args.seed, max_new_tokens=args.max_new_tokens,
                            samples=args.samples)
    results = run_eval(load(args), settings, shard)
    if results is not None:
        metrics = ", ".join(f"{k} {v:.2f}" for k, v in results["metrics"].items())
        print(f"{args.task}: {metrics} ({results['items']} items, {results['errors']} errors, "
              f"{results['parse_failures']} parse failures)")
        print(f"results: {out / 'results.json'}\nreport: {out / 'report.md'}")
    return 0
