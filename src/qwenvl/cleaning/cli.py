"""`qwenvl clean`: the Qwen-VL image-text corpus cleaner from the command line.

Rank and world size come from torchrun's RANK/WORLD_SIZE unless given as flags, so the same
command line works on one machine or many sharing an output folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import load_config
from .errors import CleaningError

DESCRIPTION = ("Clean WebDataset tar shards and JSONL/Parquet manifests of image-text pairs with the "
               "Qwen-VL rules; write cleaned shards, stats and a gallery.")


def add_parser(p: argparse.ArgumentParser) -> None:
    """Fill `p` with the options; `qwenvl clean` and `main` share it (then call `run(args)`)."""
    p.add_argument("--input", nargs="+", required=True, metavar="SHARD",
                   help=".tar/.jsonl/.parquet files, or folders searched recursively")
    p.add_argument("--output", required=True, type=Path, metavar="DIR",
                   help="cleaned shards, _done markers, clean_stats.{json,md}, clean_gallery.html")
    p.add_argument("--config", type=Path, help="YAML or JSON file with rule thresholds")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", dest="overrides",
                   help="override one config value (JSON value), e.g. image.min_side=128; repeatable")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--rank", type=int, default=None, help="this machine's rank (default $RANK or 0)")
    p.add_argument("--world-size", type=int, default=None,
                   help="number of ranks sharing --output (default $WORLD_SIZE or 1)")
    p.add_argument("--wait-timeout", type=float, default=24 * 3600.0,
                   help="seconds to wait for other ranks at the barriers (default 1 day)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise CleaningError(f"${name} must be an integer, got {value!r}") from None


def run(args: argparse.Namespace) -> int:
    """Clean the corpus described by parsed `args`; 0 on success, 1 on a user-fixable error."""
    from .runner import RunOptions, run as run_corpus  # heavy imports only when cleaning

    try:
        opts = RunOptions(
            inputs=args.input, output=args.output, cfg=load_config(args.config, args.overrides),
            workers=args.workers,
            rank=args.rank if args.rank is not None else _env_int("RANK", 0),
            world_size=args.world_size if args.world_size is not None else _env_int("WORLD_SIZE", 1),
            wait_timeout=args.wait_timeout, progress=not args.no_progress)
        summary = run_corpus(opts)
    except CleaningError as e:
        print(f"qwenvl clean: error: {e}", file=sys.stderr)
        return 1
    print(f"rank {opts.rank}: {summary.assigned}/{summary.shards} shards assigned, "
          f"{summary.staged} cleaned and {summary.written} written now; "
          f"{summary.pairs_read} pairs judged in {summary.seconds:.1f}s "
          f"({summary.pairs_per_second:.1f} pairs/s), {summary.pairs_written} written")
    if summary.report:
        total = summary.report["table"][-1]
        print(f"corpus: {total['cleaned']}/{total['original']} pairs kept ({total['remaining_pct']}%); "
              f"see {opts.output / 'clean_stats.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qwenvl clean", description=DESCRIPTION)
    add_parser(parser)
    return run(parser.parse_args(argv))
