"""Time-to-first-token and decode speed on an official-format checkpoint (issue 2's targets).

    python benchmarks/make_checkpoint.py /tmp/bench188 --dtype float32
    python benchmarks/bench_inference.py --model /tmp/bench188 --threads 2

TTFT = image decode + preprocessing + vision tower + prefill, up to the first token.
Decode = 64 greedy tokens with EOS ignored, at batch 1 and batch 8 (8 different prompts).
TTFT is the median (and the minimum) of --repeats runs after a warm-up; each decode rate the best of
--repeats, as other tenants of a shared machine only ever slow a run down.
Peak load memory is measured in a fresh process: VmHWM over the VmRSS after imports and after
torch's one-time lazy init of its meta-device kernels (a constant ~74 MB whatever the model, paid by
the first `nn.init` call; reported separately as torch_lazy_init_mb).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IMAGES = sorted((SHARED / "images").glob("*.jp*g"))
QUESTIONS = ["What is in the image? Find the red apple.", "Describe this picture.", "What colour is the sky?",
             "How many people are there?", "Read the text in the image.", "Where was this taken?",
             "Is there a car? Answer briefly.", "What is the main object?"]


def prompt(vl, i: int):
    from qwenvl.interface import make_context
    query = [{"image": str(IMAGES[i % len(IMAGES)])}, {"text": QUESTIONS[i % len(QUESTIONS)]}]
    _, ids = make_context(vl.tokenizer, query, None, "You are a helpful assistant.")
    return ids, [IMAGES[i % len(IMAGES)]]


def ttft(vl, cfg) -> float:
    from qwenvl.generation import generate_tokens
    ids, images = prompt(vl, 0)
    t0 = time.perf_counter()
    features = vl.image_features(images)
    next(iter(generate_tokens(vl.model, [ids], cfg.updated(max_new_tokens=1), features)))
    return time.perf_counter() - t0


def decode_rate(vl, cfg, batch: int) -> tuple[float, float]:
    """(aggregate new tokens/s over the decode steps, seconds for the whole call)."""
    from qwenvl.generation import generate_tokens
    prompts = [prompt(vl, i) for i in range(batch)]
    features = vl.image_features([p[1][0] for p in prompts])
    t0 = time.perf_counter()
    it = iter(generate_tokens(vl.model, [p[0] for p in prompts], cfg, features))
    next(it)
    t1 = time.perf_counter()
    steps = 1 + sum(1 for _ in it)
    t2 = time.perf_counter()
    return batch * (steps - 1) / (t2 - t1), t2 - t0


def load_memory(model: str, dtype: str) -> dict:
    code = f"""
import json
import torch
from qwenvl.checkpoint import load_model
def status(key):  # kB; VmHWM is this process's own peak (ru_maxrss would include the parent's)
    return int([l for l in open("/proc/self/status") if l.startswith(key)][0].split()[1])
base = status("VmRSS")
torch.nn.init.normal_(torch.empty(1, device="meta"))  # torch's one-time lazy init of meta kernels
warm = status("VmRSS")
m = load_model({model!r}, dtype={dtype!r})
peak = status("VmHWM")
size = sum(p.numel() * p.element_size() for p in [*m.parameters(), *m.buffers()])  # packed ones too
print(json.dumps({{"peak_over_baseline_mb": (peak - base) / 1024, "lazy_init_mb": (warm - base) / 1024,
                  "peak_over_warm_mb": (peak - warm) / 1024, "weights_mb": size / 2**20}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    d = json.loads(out.strip().splitlines()[-1])
    d["ratio"] = d["peak_over_warm_mb"] / d["weights_mb"]
    return d


def decode_forms(model) -> dict:
    """What `layout.linear` runs at batch 1 for each distinct decoding matrix (layout + form)."""
    from qwenvl.model.layout import fastest_form, storage_of
    out = {}
    for name, p in model.named_parameters():
        if p.dim() == 2 and (name == "lm_head.weight" or name.startswith("transformer.h.0.")):
            form = fastest_form(tuple(p.shape), p.dtype, 1, storage_of(p))
            out[name.replace("transformer.h.0.", "h.*.")] = form
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from qwenvl import QwenVL
    results = {"threads": args.threads, "torch": torch.__version__, "runs": []}
    for dtype in args.dtypes.split(","):
        vl = QwenVL.from_pretrained(args.model, dtype=dtype)
        cfg = vl.generation_config.updated(do_sample=False, ignore_eos=True, max_new_tokens=args.new_tokens)
        ttft(vl, cfg)  # warm-up
        times = [ttft(vl, cfg) for _ in range(args.repeats)]
        t = statistics.median(times)
        r1 = max(decode_rate(vl, cfg, 1)[0] for _ in range(args.repeats))
        r8, total8 = max(decode_rate(vl, cfg, 8) for _ in range(args.repeats))  # the best by decode rate
        mem = load_memory(args.model, dtype)
        forms = decode_forms(vl.model)
        run = {"dtype": dtype, "prompt_tokens": len(prompt(vl, 0)[0]),
               "ttft_s": round(t, 4), "ttft_min_s": round(min(times), 4),
               "decode_tok_s_b1": round(r1, 1), "decode_tok_s_b8": round(r8, 1),
               "b8_total_s": round(total8, 2), "b8_end_to_end_tok_s": round(8 * args.new_tokens / total8, 1),
               "load_peak_mb": round(mem["peak_over_warm_mb"]), "torch_lazy_init_mb": round(mem["lazy_init_mb"]),
               "weights_mb": round(mem["weights_mb"]),
               "load_peak_ratio": round(mem["ratio"], 3), "decode_forms_b1": forms}
        results["runs"].append(run)
        print(json.dumps(run))
        del vl
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
