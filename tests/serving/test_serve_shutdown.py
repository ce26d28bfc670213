"""`qwenvl serve` as a process: SIGTERM stops new connections but lets the answer in flight finish."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx
import pytest

from serving_testing import free_port, serve_args
from qwenvl_testing import CHECKPOINT
from qwenvl.cli import serve

BOOT = ("import argparse, sys; from qwenvl.cli import serve; p = argparse.ArgumentParser(); serve.add_parser(p); "
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.run(a))")


def test_sigterm_finishes_the_request_in_flight():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", BOOT, "--model", str(CHECKPOINT), "--port", str(port),
                               "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        body = {"model": "checkpoint", "messages": [{"role": "user", "content": "tell me everything"}],
                "max_tokens": 400, "ignore_eos": True, "temperature": 0, "stream": True}
        with httpx.Client(timeout=60) as http, http.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data: ")
            server.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            with pytest.raises(httpx.TransportError):  # no new connections while draining
                httpx.get(f"{url}/health", timeout=2)
            rest = [line for line in lines if line]
        # uvicorn re-raises the signal once it has shut down, so the status is 0 or "killed by SIGTERM"
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
    assert rest[-1] == "data: [DONE]"
    usage = json.loads(rest[-2][len("data: "):])["usage"]
    assert usage["completion_tokens"] == 400


def test_missing_media_root_is_a_clear_error(tmp_path):
    args = serve_args(allowed_local_media_path=tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="allowed-local-media-path"):
        serve.run(args)
