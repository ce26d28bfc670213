"""`python -m qwenvl.synthetic OUT --tasks caption,grounding --n 1000`: write a synthetic dataset."""

from __future__ import annotations

import argparse

from .dataset import write_dataset
from .seeds import SPLITS
from .stream import TASKS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m qwenvl.synthetic", description=__doc__)
    parser.add_argument("out", help="output folder (images/ and manifest.jsonl)")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from: {', '.join(TASKS)}")
    parser.add_argument("--n", type=int, required=True, help="samples per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument("--lang", choices=("en", "zh"), default=None, help="default: both, chosen per sample")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown tasks {unknown}; choose from {', '.join(TASKS)}")
    path = write_dataset(args.out, tasks, args.n, args.seed, split=args.split, lang=args.lang, size=args.size)
    print(path)


if __name__ == "__main__":
    main()
