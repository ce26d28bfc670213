"""Training throughput and peak memory on the CPU: one process against DDP over two (gloo).

    python benchmarks/bench_training.py [--steps 12] [--seq-len 1024] [--batch 2]

Generates a small captioning set (coloured squares, 64 px), then runs `configs/tiny.yaml` (the real
vocabulary, hidden 64, a 2-block ViT at 56 px) under torchrun: 1 process with 1 thread, 1 process
with 2 threads, and 2 processes × 1 thread (DDP, then FSDP2). Throughput is the global samples and non-padding
tokens per second of each optimizer step (data loading included, checkpoints not), averaged after
the first two steps; peak memory is each process's max RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TOKENIZER = REPO.parent / "shared" / "golden" / "checkpoint"
COLORS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}


def make_data(root: Path, n: int = 64) -> Path:
    rng = random.Random(0)
    lines = []
    for i in range(n):
        color = rng.choice(sorted(COLORS))
        image = Image.new("RGB", (64, 64), (245, 245, 245))
        x, y = rng.randrange(32), rng.randrange(32)
        image.paste(COLORS[color], (x, y, x + 24, y + 24))
        image.save(root / f"{i}.png")
        lines.append(json.dumps({"task": "caption", "image": f"{i}.png",
                                 "caption": f"a {color} square at {x}, {y} on a light grey background"}))
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")
    return root / "data.jsonl"


def run(data: Path, out: Path, procs: int, threads: int, parallel: str, args) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
           "-m", "qwenvl.cli.train", str(REPO / "configs" / "tiny.yaml"), f"data.datasets=[{{path: {data}}}]",
           f"run.out_dir={out}", f"model.tokenizer={TOKENIZER}", f"optim.steps={args.steps}",
           f"data.seq_len={args.seq_len}", f"data.batch_size={args.batch}", "run.save_every=100000",
           f"run.parallel={parallel}", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][2:]
    return {"samples_per_s": statistics.mean(r["samples_per_s"] for r in records),
            "tokens_per_s": statistics.mean(r["tokens_per_s"] for r in records),
            "step_s": statistics.mean(r["step_s"] for r in records),
            "peak_mem_mb": max(r["peak_mem_mb"] for r in records)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--batch", type=int, default=2, help="packed rows per process per step")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_data(tmp)
        print(f"tiny.yaml, seq_len {args.seq_len}, {args.batch} packed rows per process, {args.steps} steps\n")
        print("| processes × threads | samples/s | tokens/s | s/step | peak RSS per process (MiB) |")
        print("|---|---:|---:|---:|---:|")
        for procs, threads, parallel in ((1, 1, "ddp"), (1, 2, "ddp"), (2, 1, "ddp"), (2, 1, "fsdp")):
            r = run(data, tmp / f"run-{procs}-{threads}-{parallel}", procs, threads, parallel, args)
            label = f"{procs} × {threads}" + (f" ({parallel})" if procs > 1 else "")
            print(f"| {label} | {r['samples_per_s']:.2f} | {r['tokens_per_s']:.0f} | {r['step_s']:.2f} "
                  f"| {r['peak_mem_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
