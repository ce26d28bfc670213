"""Load test of `qwenvl serve`: N concurrent streaming clients for T seconds, on loopback only.

    python benchmarks/make_checkpoint.py /tmp/bench188 --preset bench-188m --dtype float32
    python benchmarks/load_test.py --model /tmp/bench188 --clients 1 16 --duration 60
    python benchmarks/load_test.py --url http://127.0.0.1:8000 --model-name NAME --clients 16 --duration 30

With --model the script starts the server itself (and stops it); with --url it uses a running
one. Each client sends chat requests back to back: one picture of ../shared/images (round robin,
so after the warm-up their features come from the server's cache) and a question, streamed,
`max_tokens` tokens with `ignore_eos` so every answer has the same length. No request starts after
T seconds; those running may finish during --drain seconds, and any that do not are "lost", as
are streams that end without their usage chunk and `[DONE]`. Errors are non-200 answers, error
events and broken connections.

Reported per run: aggregate completion tokens/s (tokens of finished requests over the time from
the first request to the last finish), time to first token p50/p99, requests, errors, lost.
Bounded: at most 64 clients, 600 s per run, loopback addresses only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IMAGES = sorted((SHARED / "images").glob("*.jp*g"))
QUESTIONS = ["What is in the image?", "Describe this picture in detail.", "What colours do you see?",
             "Is there any text? Read it.", "Where could this be?", "What is the main object?"]
MAX_CLIENTS, MAX_DURATION, MAX_DRAIN = 64, 600, 120
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
BOOT = ("import argparse, sys; from qwenvl.cli import serve; p = argparse.ArgumentParser(); serve.add_parser(p); "
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.run(a))")


@dataclass
class Outcome:
    started: float
    ttft: float | None = None
    finished: float | None = None
    tokens: int = 0
    error: str | None = None


@dataclass
class Report:
    clients: int
    duration_s: float
    requests: int
    finished: int
    errors: int
    lost: int
    completion_tokens: int
    tokens_per_s: float
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    error_samples: list[str] = field(default_factory=list)


def request_body(model: str, i: int, max_tokens: int, images: list[str]) -> dict:
    content = [{"type": "image_url", "image_url": {"url": images[i % len(images)]}},
               {"type": "text", "text": QUESTIONS[i % len(QUESTIONS)]}]
    return {"model": model, "stream": True, "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0,
            "messages": [{"role": "user", "content": content}]}


async def one_request(http: httpx.AsyncClient, url: str, body: dict) -> Outcome:
    out = Outcome(time.perf_counter())
    done = False
    try:
        async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                out.error = f"HTTP {r.status_code}: {(await r.aread())[:200]!r}"
                return out
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    done = True
                    break
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    out.error = chunk["error"]["message"]
                    return out
                if chunk.get("usage"):
                    out.tokens = chunk["usage"]["completion_tokens"]
                if out.ttft is None and any(c.get("delta", {}).get("content") for c in chunk["choices"]):
                    out.ttft = time.perf_counter() - out.started
    except httpx.HTTPError as e:
        out.error = f"{type(e).__name__}: {e}"
        return out
    if done and out.tokens:
        out.finished = time.perf_counter()
    return out  # neither finished nor failed: lost


async def client_loop(k: int, clients: int, http, url: str, body, stop_at: float, outcomes: list) -> None:
    """Client k: requests back to back until stop_at (k, k + clients, ... pick the pictures and questions)."""
    i = k
    while time.perf_counter() < stop_at:
        task = asyncio.ensure_future(one_request(http, url, body(i)))
        outcomes.append(task)
        await asyncio.wait([task])
        i += clients


async def run_load(url: str, model: str, clients: int, args, images: list[str]) -> Report:
    outcomes: list[asyncio.Future] = []
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(args.duration + args.drain), limits=limits) as http:
        start = time.perf_counter()
        stop_at = start + args.duration
        body = lambda i: request_body(model, i, args.max_tokens, images)  # noqa: E731
        loops = [client_loop(k, clients, http, url, body, stop_at, outcomes) for k in range(clients)]
        try:
            await asyncio.wait_for(asyncio.gather(*loops), timeout=args.duration + args.drain)
        except asyncio.TimeoutError:
            pass
        for task in outcomes:
            task.cancel()
        results = [t.result() if t.done() and not t.cancelled() else None for t in outcomes]
    finished = [o for o in results if o is not None and o.finished is not None]
    errors = [o for o in results if o is not None and o.error is not None]
    lost = len(results) - len(finished) - len(errors)
    tokens = sum(o.tokens for o in finished)
    span = (max(o.finished for o in finished) - start) if finished else float("nan")
    ttfts = sorted(o.ttft for o in finished if o.ttft is not None)
    return Report(clients, round(span, 2), len(results), len(finished), len(errors), lost, tokens,
                  round(tokens / span, 1) if finished else 0.0, _quantile(ttfts, 0.5), _quantile(ttfts, 0.99),
                  [o.error for o in errors[:3]])


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1], 3)


def check_bounds(args) -> None:
    host = urllib.parse.urlsplit(args.url).hostname if args.url else "127.0.0.1"
    if host not in LOOPBACK:
        raise SystemExit(f"refusing to load-test {host}: loopback addresses only ({', '.join(sorted(LOOPBACK))})")
    if not all(1 <= c <= MAX_CLIENTS for c in args.clients):
        raise SystemExit(f"--clients must be between 1 and {MAX_CLIENTS}")
    if not 0 < args.duration <= MAX_DURATION or not 0 <= args.drain <= MAX_DRAIN:
        raise SystemExit(f"--duration must be in (0, {MAX_DURATION}] and --drain in [0, {MAX_DRAIN}]")


def start_server(args) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-c", BOOT, "--model", str(args.model), "--port", str(port), "--dtype", args.dtype,
           "--max-num-seqs", str(max(args.clients)), "--log-level", "warning"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    server = subprocess.Popen(cmd)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("the server did not become healthy within 300 s")


async def warm_up(url: str, model: str, images: list[str], max_tokens: int) -> None:
    """One request per picture, so every run finds their features cached."""
    async with httpx.AsyncClient(timeout=300) as http:
        for i in range(len(images)):
            out = await one_request(http, url, request_body(model, i, min(max_tokens, 4), images))
            if out.error:
                raise SystemExit(f"warm-up failed: {out.error}")


def machine() -> str:
    cpu = platform.processor()
    info = Path("/proc/cpuinfo")
    if info.exists():
        names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {system}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--model", type=Path, help="checkpoint directory: start a server for it")
    where.add_argument("--url", help="a running server on loopback, e.g. http://127.0.0.1:8000")
    p.add_argument("--model-name", default=None, help="model id to send (default: the server's first model)")
    p.add_argument("--clients", type=int, nargs="+", default=[16],
                   help="one run per count, in order (repeat counts, e.g. 1 16 1 16, to average out a busy machine)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds during which requests are started")
    p.add_argument("--drain", type=float, default=60.0, help="seconds allowed for running requests to finish")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--images", type=int, default=len(IMAGES), help="how many of the shared pictures to use")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args()
    check_bounds(args)
    images = ["data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode() for path in IMAGES[:args.images]]
    server, url = start_server(args) if args.model else (None, args.url.rstrip("/"))
    try:
        model = args.model_name or httpx.get(f"{url}/v1/models", timeout=10).json()["data"][0]["id"]
        asyncio.run(warm_up(url, model, images, args.max_tokens))
        reports = [asyncio.run(run_load(url, model, n, args, images)) for n in args.clients]
    finally:
        if server is not None:
            server.terminate()
            server.wait(120)
    print(f"machine: {machine()}")
    print(f"workload: {len(images)} pictures, max_tokens {args.max_tokens}, greedy, ignore_eos, "
          f"{args.duration:g} s per run")
    print("| clients | requests | finished | errors | lost | tokens/s | TTFT p50 (s) | TTFT p99 (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in reports:
        print(f"| {r.clients} | {r.requests} | {r.finished} | {r.errors} | {r.lost} | {r.tokens_per_s} | "
              f"{r.ttft_p50_s} | {r.ttft_p99_s} |")
    rates = {n: statistics.mean(r.tokens_per_s for r in reports if r.clients == n) for n in args.clients}
    low, high = min(rates), max(rates)
    if low != high and rates[low]:
        print(f"speed-up {high} vs {low} clients (mean tokens/s of their runs): {rates[high] / rates[low]:.2f}x")
    for r in reports:
        for sample in r.error_samples:
            print(f"error ({r.clients} clients): {sample}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"machine": machine(), "runs": [asdict(r) for r in reports]}, indent=2))


if __name__ == "__main__":
    main()
