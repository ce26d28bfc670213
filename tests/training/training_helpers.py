"""Helpers for the training tests: the repository's configs and a tiny random model (configs/tiny.yaml)."""

from __future__ import annotations

from pathlib import Path

from qwenvl_testing import CHECKPOINT

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"

TINY_LLM = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "kv_channels": 32,
            "intermediate_size": 128}
TINY_VISION = {"width": 32, "layers": 2, "heads": 2, "mlp_ratio": 2.0}


def tiny_spec(image_size: int = 56):
    from qwenvl.training.config import ModelSpec
    return ModelSpec(preset="tiny", llm=dict(TINY_LLM), vision=dict(TINY_VISION), tokenizer=str(CHECKPOINT),
                     image_size=image_size)


def tiny_model(seed: int = 0, image_size: int = 56):
    from qwenvl.training.build import build_model
    return build_model(tiny_spec(image_size), seed=seed)
