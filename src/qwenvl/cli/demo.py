"""`qwenvl demo`: the shipped model on freshly generated scenes and on any image given.

Every synthetic case is drawn from the held-out `test` split with a new seed (printed, so a run
can be repeated with --seed), asked as a chat question, and checked against the generator's
answer; boxes the model gives are drawn on its picture. Given images are described and read.
Writes OUT/index.html with the pictures beside it.
"""

from __future__ import annotations

import html
import random
import time
from pathlib import Path

# (task, language) of the synthetic cases, in the report's order
CASES = (("grounding", "en"), ("grounding", "zh"), ("vqa_count", "en"), ("vqa_colour", "zh"), ("vqa_position", "en"),
         ("caption", "en"), ("ocr", "en"), ("ocr", "zh"), ("multi_image", "en"), ("grounded_caption", "en"))
IMAGE_PROMPTS = ("Describe the image in English:", "Read the text in the image:")


def add_parser(p) -> None:
    p.add_argument("--model", default=None, help="checkpoint directory (default: the shipped model)")
    p.add_argument("--image", action="append", default=[], help="also describe and read this image (repeatable)")
    p.add_argument("--out", type=Path, default=Path("qwenvl-demo"), help="folder for index.html and the pictures")
    p.add_argument("--seed", type=int, default=None, help="seed of the generated scenes (default: a new one)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    p.set_defaults(run=run)


def run(args) -> int:
    import torch

    from ..api import QwenVL
    from ..default_model import default_model_path

    if args.threads:
        torch.set_num_threads(args.threads)
    began = time.perf_counter()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    vl = QwenVL.from_pretrained(args.model or default_model_path(), dtype="float32")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [synthetic_case(vl, task, lang, seed, k, args.out) for k, (task, lang) in enumerate(CASES)]
    for k, src in enumerate(args.image):
        rows += [image_case(vl, src, prompt, f"image{k}_{j}", args.out) for j, prompt in enumerate(IMAGE_PROMPTS)]
    checked = [r for r in rows if r["correct"] is not None]
    summary = f"{sum(r['correct'] for r in checked)}/{len(checked)} synthetic answers right, seed {seed}"
    (args.out / "index.html").write_text(page(rows, summary), encoding="utf-8")
    for r in rows:
        mark = {True: "✓", False: "✗", None: " "}[r["correct"]]
        print(f"{mark} {r['title']}: {r['answer']!r}")
    print(f"{summary}; wrote {args.out / 'index.html'} in {time.perf_counter() - began:.1f} s")
    return 0


def synthetic_case(vl, task: str, lang: str, seed: int, k: int, out: Path) -> dict:
    from ..synthetic import make_sample, sample_seed

    rec = make_sample(task, sample_seed(f"demo/{task}", seed, k, "test"), lang)
    answer = ask(vl, rec["images"], rec["prompt"])
    pictures = save_pictures(rec["images"], answer, f"case{k}", out)
    return {"title": f"{task} ({lang})", "pictures": pictures, "prompt": rec["prompt"], "answer": answer,
            "expected": rec["answer"], "correct": judge(task, answer, rec)}


def image_case(vl, source: str, prompt: str, name: str, out: Path) -> dict:
    from ..data.images import load_image

    image = load_image(source, vl.image_limits)
    answer = ask(vl, [image], prompt)
    return {"title": Path(source).name, "pictures": save_pictures([image], answer, name, out), "prompt": prompt,
            "answer": answer, "expected": None, "correct": None}


def ask(vl, images: list, prompt: str) -> str:
    query = [{"image": im} for im in images] + [{"text": prompt}]
    return vl.chat(None, query, do_sample=False, max_new_tokens=160)[0]


def save_pictures(images: list, answer: str, name: str, out: Path) -> list[str]:
    """The pictures as PNG files; the answer's boxes drawn on the first (answers refer to it)."""
    from ..interface.draw import draw_grounding
    from ..interface.grounding import parse_grounding

    items = parse_grounding(answer)
    names = []
    for i, image in enumerate(images):
        shown = draw_grounding(image, items) if i == 0 and items and len(images) == 1 else image.convert("RGB")
        names.append(f"{name}_{i}.png")
        shown.save(out / names[-1])
    return names


def judge(task: str, answer: str, rec: dict) -> bool:
    """Grounding: the first box at IoU ≥ 0.5 with the true one; other tasks: the exact answer."""
    if task != "grounding":
        return answer.strip().lower() == rec["answer"].strip().lower()
    import numpy as np

    from ..evaluation.metrics import box_iou
    from ..interface.grounding import Box, parse_grounding

    boxes = [b for b in parse_grounding(answer) if isinstance(b, Box)]
    if not boxes:
        return False
    pair = np.array([boxes[0].normalized(), [v / 1000 for v in rec["boxes"][0]["box"]]], dtype=np.float32)
    return bool(box_iou(pair[:1], pair[1:])[0] >= 0.5)


def page(rows: list[dict], summary: str) -> str:
    esc = html.escape
    cards = []
    for r in rows:
        mark = {True: "✓", False: "✗", None: ""}[r["correct"]]
        imgs = "".join(f'<img src="{esc(p)}" width="224">' for p in r["pictures"])
        expected = "" if r["expected"] is None else f"<p><b>expected</b> <code>{esc(r['expected'])}</code></p>"
        cards.append(f"<div class=card><h3>{mark} {esc(r['title'])}</h3>{imgs}"
                     f"<p><b>prompt</b> <code>{esc(r['prompt'])}</code></p>"
                     f"<p><b>model</b> <code>{esc(r['answer'])}</code></p>{expected}</div>")
    style = ("body{font-family:sans-serif;margin:2em}.card{display:inline-block;vertical-align:top;width:480px;"
             "margin:8px;padding:8px;border:1px solid #ccc}code{white-space:pre-wrap}img{margin:2px}")
    return (f"<!doctype html><meta charset=utf-8><title>qwenvl demo</title><style>{style}</style>"
            f"<h1>qwenvl demo</h1><p>{esc(summary)}</p>" + "".join(cards) + "\n")
