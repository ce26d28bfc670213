"""benchmarks/reading_phase.py runs the recipe's reading phase from a fresh tower and scores its head per script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reading_phase.py"


def test_the_head_is_scored_on_each_script_apart():
    out = subprocess.run([sys.executable, str(SCRIPT), "--steps", "2", "--batch", "2", "--held-out", "2",
                          "--scenes", "0.5", "--scenes-from", "0.5", "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout[out.stdout.index("{\n"):])
    assert report["steps"] == 2 and report["scenes"] == 0.5 and report["scenes_from"] == 0.5
    assert set(report["heldout"]) == {"en", "zh"}
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["patches"] > 0 for r in report["heldout"].values())
