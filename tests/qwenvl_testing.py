"""Shared test helpers (a uniquely named module: every test folder can import it)."""

from __future__ import annotations

from pathlib import Path

import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOLDEN = SHARED / "golden"
CHECKPOINT = GOLDEN / "checkpoint"


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
