"""Make this folder's helpers (`serving_testing.py`) importable, and share the loaded golden model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def golden_vl():
    from qwenvl import QwenVL
    from qwenvl_testing import CHECKPOINT
    return QwenVL.from_pretrained(CHECKPOINT, dtype="float32")
