"""benchmarks/probe_vit.py runs on a fresh ViT and reports a held-out accuracy curve."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "probe_vit.py"


def probe(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout[out.stdout.index("{\n"):])


def test_probe_reports_a_curve_scored_every_n_steps():
    report = probe("--fresh", "--train-vit", "--steps", "4", "--every", "2", "--batch", "4", "--held-out", "8",
                   "--threads", "1")
    assert [p["step"] for p in report["curve"]] == [2, 4]
    assert all(0.0 <= p[k] <= 1.0 for p in report["curve"] for k in ("shape", "colour", "col", "row"))
    assert report["train_vit"] and report["grid"] == 8 and report["where"] == "vit"


def test_probe_reads_the_adapter_outputs_too():
    report = probe("--fresh", "--where", "adapter", "--steps", "2", "--every", "2", "--batch", "4", "--held-out",
                   "8", "--threads", "1")
    assert report["where"] == "adapter" and [p["step"] for p in report["curve"]] == [2]


def test_probe_needs_a_model_or_fresh():
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "--model" in out.stderr
