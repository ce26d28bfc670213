"""Shared fixtures: the golden checkpoint and vectors from ../shared."""

from __future__ import annotations

import json

import pytest

from qwenvl_testing import CHECKPOINT, GOLDEN


@pytest.fixture(scope="session")
def golden() -> dict:
    return json.loads((GOLDEN / "golden.json").read_text())


@pytest.fixture(scope="session")
def golden_tensors() -> dict:
    from safetensors.torch import load_file
    return load_file(GOLDEN / "golden.safetensors")


@pytest.fixture(scope="session")
def golden_case(golden):
    cases = {c["name"]: c for c in golden["cases"]}
    return cases.__getitem__


@pytest.fixture(scope="session")
def vl():
    """The golden checkpoint loaded through the public API, in float32."""
    from qwenvl import QwenVL
    return QwenVL.from_pretrained(CHECKPOINT, dtype="float32")


@pytest.fixture(scope="session")
def tokenizer(vl):
    return vl.tokenizer
