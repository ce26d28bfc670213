"""Shared fixtures: the golden checkpoint and vectors from ../shared, and small random models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOLDEN = SHARED / "golden"
CHECKPOINT = GOLDEN / "checkpoint"


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


def random_model(seed: int = 0, **llm_overrides):
    """A tiny random model (golden shapes unless overridden) with non-trivial weights everywhere."""
    from qwenvl.config import preset
    from qwenvl.model import QWenLMHeadModel

    cfg = preset("tiny")
    if llm_overrides:
        import dataclasses
        cfg = cfg.replace(llm=dataclasses.replace(cfg.llm, **llm_overrides))
    torch.manual_seed(seed)
    model = QWenLMHeadModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("pos_embed"):
                continue
            p.copy_(torch.randn_like(p) * (0.02 if p.dim() > 1 else 0.1) + (1.0 if "ln" in name and p.dim() == 1 and name.endswith("weight") else 0.0))
    return model.eval()
