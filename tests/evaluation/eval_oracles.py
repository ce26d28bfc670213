"""Imports the transcribed official scorers in reference/ by path, under names that no other
test folder's modules can shadow (tests here are not packages)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REFERENCE = Path(__file__).parent / "reference"


def official(name: str) -> ModuleType:
    """The reference module `reference/<name>.py`."""
    module_name = f"qwenvl_eval_reference_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, REFERENCE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]
