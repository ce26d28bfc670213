"""Does telling one LLM head where the named object is shorten the lookup plateau? A probe.

    python benchmarks/lookup_supervision.py --model runs/recipe/stage2 --steps 250 --weight 1
    python benchmarks/lookup_supervision.py --model runs/recipe/stage2 --steps 250 --weight 0

From a stage-2 checkpoint it trains as stage 3 does (adapter and LLM, ChatML, 224 px, AdamW at
3e-4 after a short warm-up) on scenes asked grounding questions only. With `--weight` above 0 an
auxiliary loss sits beside the LM loss: at every position of a box in an answer, one head
(`--layer`, `--head`) is pushed to put its attention on the image tokens of the patches inside
that box, -log of the attention mass there. The LLM's plateau is finding the object the question
names among 256 image tokens (benchmarks/RESULTS.md); this asks whether a direct signal for that
search removes it. Scored on the recipe's held-out grounding set (seed 31337, test split) by
greedy decoding, Acc@IoU≥0.5, through the evaluation runner.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from qwenvl.checkpoint import load_model, save_state
from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.recipe.data import GroupStream, Mix
from qwenvl.recipe.evaluate import EVAL_SEED
from qwenvl.recipe.lookup import HeadLookup
from qwenvl.recipe.loop import Schedule, lm_loss
from qwenvl.recipe.run import side_files
from qwenvl.synthetic import write_dataset
from qwenvl.synthetic.dataset import MANIFEST
from qwenvl.training.optim import build_optimizer, build_scheduler
from qwenvl.training.precision import autocast
from qwenvl.training.stages import apply_stage

@torch.no_grad()
def accuracy(model, tokenizer, data: Path, limit: int, work: Path) -> float:
    from qwenvl.api import QwenVL
    from qwenvl.evaluation.runner import EvalSettings, run_eval

    state = {k: v.detach().to(torch.bfloat16) for k, v in model.state_dict().items()}
    save_state(state, model.cfg, work / "model", source_dir=tokenizer.vocab_file.parent)
    side_files(work / "model", tokenizer, chat=True)
    vl = QwenVL.from_pretrained(work / "model", dtype="float32")
    results = run_eval(vl, EvalSettings(task="synth_grounding", data=data, out=work / "eval", model=str(work / "model"),
                                        limit=limit))
    return results["metrics"]["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a stage-2 checkpoint of the recipe")
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--weight", type=float, default=1.0, help="the auxiliary loss's weight (0: none)")
    parser.add_argument("--layer", type=int, default=2)
    parser.add_argument("--head", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--eval-n", type=int, default=100)
    parser.add_argument("--eval-data", default="runs/lookup_eval")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    data = Path(args.eval_data)
    if not (data / MANIFEST).is_file():
        write_dataset(data, ["grounding"], args.eval_n, EVAL_SEED, split="test")
    model = load_model(args.model, "float32", inference=False)
    tokenizer = QwenTokenizer.from_pretrained(args.model)
    grid = model.cfg.adapter.grid  # the lookups run on the image tokens, one per adapter query
    apply_stage(model, ["adapter", "llm"])
    schedule = Schedule(steps=args.steps, lr=args.lr, warmup=max(1, args.steps // 20), min_lr=args.lr / 3)
    optimizer = build_optimizer(model, schedule.optim(), model.cfg.vision.layers)
    scheduler = build_scheduler(optimizer, schedule.optim())
    stream = GroupStream(tokenizer, Mix({"scene": 1.0}, {"grounding": 1.0}, turns=(3, 5)), "chat", 224, args.batch,
                         args.seed, "lookup-probe", pool=4, lookup_grid=grid)
    probe = HeadLookup(model, args.layer, args.head)
    model.train()
    began, log = time.perf_counter(), []
    for step in range(1, args.steps + 1):
        item = next(stream)
        batch, plan = item.batch, item.lookups
        with autocast("cpu"):
            lm = lm_loss(model, batch)
            aux = probe.loss(plan)
        (lm + args.weight * aux).backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        log.append((lm.item(), aux.item()))
        if step % 25 == 0:
            tail = log[-25:]
            print(f"step {step}: lm {sum(a for a, _ in tail) / 25:.3f} lookup {sum(b for _, b in tail) / 25:.3f} "
                  f"({time.perf_counter() - began:.0f} s)", flush=True)
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        acc = accuracy(model, tokenizer, data, args.eval_n, Path(tmp))
    print(json.dumps({"model": args.model, "steps": args.steps, "weight": args.weight, "layer": args.layer,
                      "head": args.head, "lr": args.lr, "grounding_acc": round(acc, 2),
                      "seconds": round(time.perf_counter() - began, 1)}))


if __name__ == "__main__":
    main()
