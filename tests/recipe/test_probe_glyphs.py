"""benchmarks/probe_glyphs.py reads characters from a fresh tower's tokens, or trains a checkpoint's tower with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from qwenvl.default_model import default_model_path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "probe_glyphs.py"
TINY = ("--steps", "2", "--every", "1", "--batch", "2", "--held-out", "4", "--threads", "1")


def probe(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(SCRIPT), *args, *TINY], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout[out.stdout.index("{\n"):])


def test_probe_scores_the_patches_that_carry_a_character():
    report = probe("--fresh")
    assert [p["step"] for p in report["curve"]] == [1, 2]
    assert all(0.0 <= p["glyph_accuracy"] <= 1.0 and p["glyph_patches"] > 0 for p in report["curve"])
    assert all(0.0 <= p[f"{s}_accuracy"] <= 1.0 for p in report["curve"] for s in ("en", "zh"))
    assert all(p["en_patches"] + p["zh_patches"] == p["glyph_patches"] for p in report["curve"])
    assert 0.0 < report["commonest_character"] <= 1.0 and not report["train_vit"]


def test_the_probe_draws_only_the_scripts_asked_for():
    report = probe("--fresh", "--lang", "en", "--font-size", "0.15", "0.3")
    assert report["lang"] == ["en"] and report["font_size"] == [0.15, 0.3]
    assert all(p["zh_patches"] == 0 and p["en_patches"] > 0 for p in report["curve"])


def test_a_checkpoints_tower_trains_with_the_probe():
    """The inference loader packs the tower's weights; a tower that trains loads them row-major."""
    report = probe("--model", str(default_model_path()), "--train-vit")
    assert report["train_vit"] and report["where"] == "vit" and len(report["curve"]) == 2


def test_the_adapter_is_probed_only_where_it_has_one_query_a_patch():
    out = subprocess.run([sys.executable, str(SCRIPT), "--fresh", "--where", "adapter", "--image-size", "448", *TINY],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "--where adapter needs one query a patch: 64 queries, 32² patches" in out.stderr
