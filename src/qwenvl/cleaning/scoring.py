"""Where a pair's CLIP image-text score comes from: its metadata, else a pluggable scorer.

Web corpora (LAION, COYO) ship a precomputed similarity, so most pairs need no model; the
scorer hook lets a deployment plug in its own CLIP without this package depending on one.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable

from PIL import Image

from .errors import CleaningError

Scorer = Callable[[Image.Image, str], float]


def metadata_score(metadata: dict, keys: tuple[str, ...]) -> float | None:
    """The first finite numeric value under one of `keys`; anything else counts as absent."""
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


@functools.cache
def load_scorer(spec: str) -> Scorer:
    """Import `module:function` once per process (a real scorer loads a model)."""
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise CleaningError(f"clip.scorer {spec!r}: cannot import {module_name!r}: {e}") from e
    func = getattr(module, func_name, None)
    if not callable(func):
        raise CleaningError(f"clip.scorer {spec!r}: {module_name} has no callable {func_name!r}")
    return func
