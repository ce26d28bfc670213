"""The official config.json adapter and the presets."""

from __future__ import annotations

import json

import pytest

from qwenvl_testing import CHECKPOINT, SHARED
from qwenvl.config import PRESETS, QwenVLConfig, preset


def test_official_7b_config_reads_as_the_preset():
    cfg = QwenVLConfig.load(SHARED / "qwen" / "config.json")
    assert cfg.llm == preset("qwen-vl-7b").llm and cfg.vision == preset("qwen-vl-7b").vision
    assert cfg.adapter.heads == 4096 // 128 and cfg.vision.mlp_width == int(1664 * 4.9231)
    assert cfg.vision.grid == 32


@pytest.mark.parametrize("path", [SHARED / "qwen" / "config.json", CHECKPOINT / "config.json"])
def test_official_keys_survive_a_round_trip(path, tmp_path):
    original = json.loads(path.read_text())
    QwenVLConfig.load(path).save(tmp_path / "config.json")
    written = json.loads((tmp_path / "config.json").read_text())
    for key, value in original.items():
        if key in ("auto_map", "transformers_version", "use_flash_attn", "bf16", "fp16", "fp32"):
            continue
        assert written[key] == value, key
    assert "auto_map" not in written
    assert QwenVLConfig.load(tmp_path) == QwenVLConfig.load(path)


def test_presets_are_consistent():
    assert {"qwen-vl-7b", "bench-188m", "tiny"} <= set(PRESETS)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("qwen-vl-70b")


def test_inconsistent_sizes_are_refused(tmp_path):
    d = json.loads((CHECKPOINT / "config.json").read_text())
    d["visual"]["output_dim"] = 64
    with pytest.raises(ValueError, match="output_dim"):
        QwenVLConfig.from_official(d)
    d = json.loads((CHECKPOINT / "config.json").read_text())
    d["visual"]["width"] = 65
    with pytest.raises(ValueError, match="not divisible"):
        QwenVLConfig.from_official(d)
    d = json.loads((CHECKPOINT / "config.json").read_text())
    d["hidden_size"] = "big"
    with pytest.raises((ValueError, TypeError)):
        QwenVLConfig.from_official(d)
