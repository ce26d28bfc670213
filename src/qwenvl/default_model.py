"""The model that ships with the package: the recipe's final chat model (`qwenvl recipe`).

Commands that take `--model` fall back to it, so `qwenvl demo`, `qwenvl chat` and
`qwenvl ground` work on a fresh install without downloading anything.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = Path(__file__).parent / "assets" / "default_model"


def default_model_path() -> Path:
    """The shipped checkpoint directory; a clear error when the package was installed without it."""
    if not (DEFAULT_MODEL / "config.json").is_file():
        raise FileNotFoundError(f"the default model is missing from {DEFAULT_MODEL}; pass --model DIR, or "
                                "train one with `qwenvl recipe --out DIR`")
    return DEFAULT_MODEL
