"""benchmarks/text_lookup.py trains the LM phase and scores held-out lookups per task."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "text_lookup.py"


def test_a_barely_trained_lm_looks_nothing_up():
    out = subprocess.run([sys.executable, str(SCRIPT), "--steps", "2", "--n", "16", "--threads", "1",
                          "--train-tasks", "vqa_colour", "caption"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout[out.stdout.index("{\n"):])
    assert report["train_tasks"] == ["vqa_colour", "caption"] and report["steps"] == 2
    scores = report["exact_match"]
    assert set(scores) == {"vqa_colour", "vqa_shape", "vqa_count", "vqa_position", "grounding", "caption"}
    assert scores["grounding"] == 0.0 and scores["caption"] == 0.0  # answers of tens of tokens are never guessed
