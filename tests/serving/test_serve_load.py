"""benchmarks/load_test.py runs, counts every request, and refuses anything but loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from serving_testing import running, serve_args
from qwenvl.cli import serve

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load_test.py"


def load_test(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_load_test_reports_a_short_run(golden_vl):
    with running(serve.make_app(golden_vl, serve_args())) as url:
        done = load_test("--url", url, "--clients", "1", "3", "--duration", "2", "--drain", "30",
                         "--max-tokens", "8", "--images", "2")
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines()
            if line.startswith("| ") and "clients" not in line]
    assert [int(r[0]) for r in rows] == [1, 3]
    for clients, requests, finished, errors, lost, tokens_per_s, *_ in rows:
        assert int(requests) == int(finished) >= int(clients) and int(errors) == 0 and int(lost) == 0
        assert float(tokens_per_s) > 0
    assert "speed-up 3 vs 1 clients" in done.stdout


def test_load_test_refuses_other_hosts():
    done = load_test("--url", "http://10.0.0.1:8000", "--duration", "1")
    assert done.returncode != 0 and "loopback addresses only" in done.stderr
