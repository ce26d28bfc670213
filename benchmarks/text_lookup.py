"""How well the recipe's LM phase learns to look answers up in a scene's grounded caption.

    python benchmarks/text_lookup.py --steps 700 --threads 2
    python benchmarks/text_lookup.py --steps 700 --train-tasks vqa_colour vqa_shape grounding

A fresh miniature LLM (the recipe's initialisation) trains on the LM phase's documents
(`recipe.lm_pretrain`: a grounded caption, then questions about it, only the answers
supervised) with the recipe's LM schedule over `--steps`. It is then scored on held-out
documents (the test split), one question each, per task: an answer is right when every one of
its tokens is the model's most likely next token given the ones before, which is exactly when
greedy decoding writes it. What the LM looks up in text caps what it will look up in a picture.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch

from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.model import QWenLMHeadModel
from qwenvl.recipe import lm_pretrain
from qwenvl.recipe.sizes import init_miniature
from qwenvl.recipe.stages import RECIPE
from qwenvl.recipe.tokenizer_train import build_tokenizer
from qwenvl.synthetic import sample_seed
from qwenvl.training.packing import Example, collate
from qwenvl.training.precision import autocast
from qwenvl.training.samples import IGNORE

SCORED = ("vqa_colour", "vqa_shape", "vqa_count", "vqa_position", "grounding", "caption")


def documents(tokenizer, task: str, n: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """`n` held-out documents asking `task` once (scenes where it cannot be asked are skipped)."""
    docs, index = [], 0
    while len(docs) < n:
        ids, labels = lm_pretrain.context_document(tokenizer, sample_seed("lm/context", seed, index, "test"), [task])
        index += 1
        if any(label != IGNORE for label in labels):
            docs.append((ids, labels))
    return docs


@torch.no_grad()
def exact_match(model, tokenizer, task: str, n: int, seed: int) -> float:
    """Share of `n` held-out one-question documents whose whole answer greedy decoding writes."""
    no_pixels = torch.zeros(0, 3, 1, 1)
    docs, right = documents(tokenizer, task, n, seed), 0
    for start in range(0, n, 16):
        chunk = docs[start:start + 16]
        rows = [[Example(ids, labels[1:] + [IGNORE], no_pixels)] for ids, labels in chunk]
        batch = collate(rows, max(len(ids) for ids, _ in chunk), tokenizer.eod_id)
        with autocast("cpu"):
            hidden = model.transformer(batch.input_ids, None, batch.positions, batch.attention_mask)
            guess = model.lm_head(hidden).argmax(-1)
        supervised = batch.targets != IGNORE
        right += int((~(supervised & (guess != batch.targets)).any(-1)).sum())
    return right / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=RECIPE.lm.steps)
    parser.add_argument("--train-tasks", nargs="+", default=list(lm_pretrain.CONTEXT_TASKS),
                        help="the questions the LM phase's documents ask (default: the recipe's)")
    parser.add_argument("--n", type=int, default=128, help="held-out documents per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--heads", type=int, help="the LLM's attention heads (default: the recipe's)")
    parser.add_argument("--layers", type=int, help="the LLM's blocks (default: the recipe's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lm_pretrain.CONTEXT_TASKS = tuple(args.train_tasks)

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = QwenTokenizer(build_tokenizer(Path(tmp) / "qwen.tiktoken", RECIPE.n_ranks, *RECIPE.corpus,
                                                  seed=args.seed))
        torch.manual_seed(args.seed)
        cfg = RECIPE.model(tokenizer.vocab_size, tokenizer.img_start_id)
        heads, layers = args.heads or cfg.llm.num_attention_heads, args.layers or cfg.llm.num_hidden_layers
        llm = dataclasses.replace(cfg.llm, num_attention_heads=heads, kv_channels=cfg.llm.hidden_size // heads,
                                  num_hidden_layers=layers)
        model = QWenLMHeadModel(dataclasses.replace(cfg, llm=llm))
        init_miniature(model)
        schedule = dataclasses.replace(RECIPE.lm, steps=args.steps,
                                       warmup=max(1, round(RECIPE.lm.warmup * args.steps / RECIPE.lm.steps)))
        began = time.perf_counter()
        summary = lm_pretrain.pretrain_lm(model, tokenizer, schedule, RECIPE.lm_batch, args.seed)
        scores = {task: round(exact_match(model, tokenizer, task, args.n, args.seed), 3) for task in SCORED}
    print(json.dumps({"train_tasks": args.train_tasks, "heads": heads, "layers": layers, "steps": args.steps, "threads": args.threads,
                      "seconds": round(time.perf_counter() - began, 1), "final_loss": summary["final_loss"],
                      "exact_match": scores}, indent=2))


if __name__ == "__main__":
    main()
