"""`qwenvl eval` as a script, for torchrun and CLI tests: the subcommand's own parser and run()."""

from __future__ import annotations

import argparse
import sys

from qwenvl.cli import eval as eval_cli


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="qwenvl eval")
    eval_cli.add_parser(parser)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
