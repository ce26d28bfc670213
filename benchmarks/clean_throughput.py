"""Throughput of `qwenvl clean` on a synthetic web-like corpus, with 1 and 2 worker processes.

    python benchmarks/clean_throughput.py [--pairs 2000] [--shards 8] [--workers 1 2]

Images are 256-512 px JPEGs (smooth colour fields plus sensor-like noise, ~20-60 KB, like web
photos); about 10% of captions break a text rule and about a third of the metadata CLIP scores
fall below the default threshold. Pairs/s counts every pair read over the whole run: both
passes, global dedup and the reports, plus starting the worker processes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from qwenvl.cleaning.config import CleanConfig
from qwenvl.cleaning.runner import RunOptions, run

WORDS = ("a dog cat car street park beach mountain lake city night sunset tree flower red blue "
         "small old new people walking running on in with the of near at two three").split()
ZH = "一只小猫狗在沙发上睡觉公园里的花朵城市夜景海边日落山湖"


def photo(rng: np.random.Generator) -> bytes:
    w, h = (int(x) for x in rng.integers(256, 513, 2))
    field = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    pixels = np.asarray(field, dtype=np.int16) + rng.normal(0, 8, (h, w, 3)).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def caption(rng: np.random.Generator) -> str:
    text = " ".join(rng.choice(WORDS, int(rng.integers(4, 16))))
    roll = rng.random()
    if roll < 0.3:
        text += " " + "".join(rng.choice(list(ZH), int(rng.integers(3, 10))))
    elif roll < 0.4:
        text = f"<b>{text}</b> &amp; more http://example.com/{int(rng.integers(1e6))}.jpg"
    elif roll < 0.45:
        text += " 😀"
    elif roll < 0.5:
        text = "ok"
    return text


def make_corpus(root: Path, pairs: int, shards: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    size = 0
    for s in range(shards):
        path = root / "web" / f"{s:05d}.tar"
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w") as tf:
            for i in range(s, pairs, shards):
                meta = {"clip_score": round(float(rng.uniform(0.2, 0.45)), 3)}
                for ext, data in (("jpg", photo(rng)), ("txt", caption(rng).encode()),
                                  ("json", json.dumps(meta).encode())):
                    info = tarfile.TarInfo(f"{i:08d}.{ext}")
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        size += path.stat().st_size
    return size


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=2000)
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="clean_bench_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        size = make_corpus(root / "in", args.pairs, args.shards)
        print(f"corpus: {args.pairs} pairs, {args.shards} shards, {size / 2**20:.1f} MiB "
              f"(generated in {time.perf_counter() - t0:.1f}s)")
        print(f"machine: {os.cpu_count()} cores, {cpu_model()}")
        for workers in args.workers:
            out = root / f"out{workers}"
            summary = run(RunOptions([str(root / "in")], out, CleanConfig(), workers=workers, progress=False))
            kept = summary.report["table"][-1]
            print(f"workers={workers}: {summary.pairs_read} pairs in {summary.seconds:.2f}s = "
                  f"{summary.pairs_per_second:.0f} pairs/s ({kept['cleaned']} kept, {kept['remaining_pct']}%)")
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
