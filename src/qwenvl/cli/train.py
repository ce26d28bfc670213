"""`qwenvl train CONFIG [key=value ...] [--resume]`: run a training stage described by a config file.

Several processes or nodes: `torchrun --nproc_per_node N -m qwenvl.cli.train CONFIG ...`
(or torchrun on the `qwenvl` script with `train CONFIG ...`).
"""

from __future__ import annotations

import argparse
import sys


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML or TOML training config (see configs/)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides with dotted keys, e.g. optim.lr=1e-5 run.out_dir=runs/x")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in run.out_dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..training.config import load_config
    from ..training.trainer import train

    cfg = load_config(args.config, args.overrides)
    summary = train(cfg, resume=args.resume, progress=not args.no_progress)
    if "skipped" in summary:
        print(f"done: {summary['steps']} steps, last checkpoint {summary['checkpoint']}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qwenvl train", description=__doc__.splitlines()[0])
    add_parser(parser)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
