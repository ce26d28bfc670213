"""`python -m qwenvl.cleaning ...`, the same as `qwenvl clean ...`."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
