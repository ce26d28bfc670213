"""How well the miniature LLM learns the scene tasks when its image tokens are perfect.

    python benchmarks/llm_ceiling.py --steps 1500 --threads 2
    python benchmarks/llm_ceiling.py --steps 1500 --hidden 512 --layers 4
    python benchmarks/llm_ceiling.py --steps 1500 --lookup 0.1 [--detached]

Each picture's 64 image tokens (one per cell of the scene lattice, as the adapter gives them) are
made from what the synthetic world knows is there instead of from pixels: per cell, the sum of
learnt embeddings of its object's shape, colour and lattice box and of the cell itself (the
`dense` labels, `recipe.dense.patch_labels`). The LLM and those embeddings train on stage 3's
dialogues about scenes and picture pairs (the recipe's mix, its format, its schedule's rates);
no picture is drawn, so a step costs the LLM alone. It is then scored on held-out one-question
dialogues (the test split) per task: an answer is right when every one of its tokens is the
model's most likely next one, which is when greedy decoding writes it.

The score is what the LLM can learn in `--steps` with nothing lost in the picture: a ceiling for
the recipe's chat model at the same LLM size and steps, and a quick bench for what makes the LLM
learn faster. `--lookup` adds the recipe's box lookup (`recipe.lookup`) at that weight, on the head
stage 3 supervises; with `--detached` what the head receives is detached, so the lookup trains that
head's query and key maps alone and reshapes nothing before them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.model import QWenLMHeadModel
from qwenvl.recipe import data
from qwenvl.recipe.dense import LATTICE, NO_LABEL, PATCH_CLASSES, patch_labels
from qwenvl.recipe.lookup import HeadLookup, with_lookup
from qwenvl.recipe.loop import Schedule, text_loss, train
from qwenvl.recipe.sizes import init_miniature
from qwenvl.recipe.stages import RECIPE, SCENE_TASKS
from qwenvl.recipe.tokenizer_train import build_tokenizer
from qwenvl.synthetic import sample_seed
from qwenvl.synthetic.templates import LANGS
from qwenvl.training.packing import Example, collate
from qwenvl.training.precision import autocast
from qwenvl.training.samples import IGNORE
from qwenvl.training.stages import apply_stage

SCORED = ("vqa_colour", "vqa_shape", "vqa_count", "vqa_position", "grounding", "multi_image")
KINDS = tuple(k for k in PATCH_CLASSES if k != "char")  # what a scene's cell is labelled with
PIXELS = 16  # the side of the stand-in pictures the stream preprocesses and nobody looks at


class PerfectTokens(nn.Module):
    """Image tokens from the dense labels of each lattice cell: (pictures, kinds, cells) → (pictures, cells, hidden)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(PATCH_CLASSES[k] + 1, hidden) for k in KINDS)  # + "no label"
        for table in self.tables:
            nn.init.normal_(table.weight, std=0.02)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        out = 0
        for kind, table in zip(KINDS, self.tables):
            ids = labels[:, list(PATCH_CLASSES).index(kind)]
            out = out + table(torch.where(ids == NO_LABEL, PATCH_CLASSES[kind], ids))
        return out


class Learner(nn.Module):
    """The LLM with its token tables, as one module for the recipe's loop."""

    def __init__(self, model: QWenLMHeadModel, tokens: PerfectTokens):
        super().__init__()
        self.module, self.tokens = model, tokens


def loss(learner: Learner, item: data.Item) -> torch.Tensor:
    return text_loss(learner.module, item.batch, learner.tokens(item.patch_labels))


class DetachedLookup(HeadLookup):
    """The lookup with what the block receives detached: only the head's q and k rows learn from it."""

    def _keep(self, module, args) -> None:
        self.inputs = (args[0].detach(), *args[1:])


def held_out(tokenizer, task: str, n: int, seed: int) -> list[tuple[Example, torch.Tensor]]:
    """`n` one-question dialogues of the test split asking `task`, with their pictures' labels."""
    rows, index = [], 0
    while len(rows) < n:
        picked = sample_seed(f"ceiling/{task}", seed, index, "test")
        index += 1
        lang = random.Random(picked).choice(LANGS)
        group = (data.multi_group(picked, lang, 1) if task == "multi_image"
                 else data.scene_group(picked, lang, {task: 1.0}, 1))
        if group.turns:
            example = Example.from_sample(data.chat_sample(tokenizer, group), torch.zeros(len(group.images), 3, 1, 1))
            rows.append((example, torch.tensor([patch_labels(s, LATTICE) for s in group.scenes])))
    return rows


@torch.no_grad()
def exact_match(learner: Learner, tokenizer, task: str, n: int, seed: int) -> float:
    """Share of `n` held-out dialogues whose answer (the last turn's tokens before `<|im_end|>`) greedy decoding writes."""
    model, rows, right = learner.module, held_out(tokenizer, task, n, seed), 0
    for start in range(0, n, 16):
        chunk = rows[start:start + 16]
        batch = collate([[e] for e, _ in chunk], max(len(e) for e, _ in chunk), tokenizer.eod_id)
        with autocast("cpu"):
            hidden = model.transformer(batch.input_ids, learner.tokens(torch.cat([labels for _, labels in chunk])),
                                       batch.positions, batch.attention_mask)
            guess = model.lm_head(hidden).argmax(-1)
        for row in range(len(chunk)):
            targets = batch.targets[row]
            supervised = (targets != IGNORE).nonzero().flatten().tolist()
            opens = [p for p in supervised if int(targets[p]) == tokenizer.im_start_id]
            closes = [p for p in supervised if int(targets[p]) == tokenizer.im_end_id]
            answer = slice(opens[-1] + 1, closes[-1])  # the assistant's head between them is not supervised
            keep = targets[answer] != IGNORE
            right += bool((guess[row, answer][keep] == targets[answer][keep]).all())
    return right / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--hidden", type=int, help="the LLM's width (default: the recipe's); heads of 64")
    parser.add_argument("--layers", type=int, help="the LLM's blocks (default: the recipe's)")
    parser.add_argument("--lookup", type=float, default=0.0, help="weight of the box lookup (0: none)")
    parser.add_argument("--detached", action="store_true", help="the lookup trains the head's q and k maps alone")
    parser.add_argument("--n", type=int, default=150, help="held-out dialogues per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.detached and not args.lookup:
        parser.error("--detached changes the lookup: give its weight with --lookup")
    torch.set_num_threads(args.threads)
    data.render_scene = lambda scene: Image.new("RGB", (PIXELS, PIXELS))  # pictures are never looked at

    with tempfile.TemporaryDirectory() as tmp:
        ranks = build_tokenizer(Path(tmp) / "qwen.tiktoken", RECIPE.n_ranks, *RECIPE.corpus, seed=args.seed)
        plain = QwenTokenizer(ranks)
        cfg = RECIPE.model(plain.vocab_size, plain.img_start_id)
        tokenizer = QwenTokenizer(ranks, image_tokens=cfg.adapter.n_queries)  # one position a lattice cell
    hidden = args.hidden or cfg.llm.hidden_size
    llm = dataclasses.replace(cfg.llm, hidden_size=hidden, num_attention_heads=hidden // 64, kv_channels=64,
                              num_hidden_layers=args.layers or cfg.llm.num_hidden_layers,
                              intermediate_size=cfg.llm.intermediate_size * hidden // cfg.llm.hidden_size)
    torch.manual_seed(args.seed)
    model = QWenLMHeadModel(cfg.replace(llm=llm, adapter=dataclasses.replace(cfg.adapter, output_dim=hidden)))
    init_miniature(model)
    apply_stage(model, ["llm"])
    learner = Learner(model, PerfectTokens(hidden))

    stage3 = RECIPE.stages[-1]
    mix = dataclasses.replace(stage3.mix, kinds={k: w for k, w in stage3.mix.kinds.items() if k != "text"},
                              scene_tasks=SCENE_TASKS)
    stream = data.GroupStream(tokenizer, mix, "chat", PIXELS, args.batch, args.seed, "ceiling",
                              patch_grid=LATTICE, pool=stage3.pool,
                              lookup_grid=cfg.adapter.grid if args.lookup else 0)
    loss_fn = loss
    if args.lookup:  # the boxes each item's answers write
        loss_fn, _ = with_lookup(loss, model, args.lookup, *stage3.lookup_head,
                                 kind=DetachedLookup if args.detached else HeadLookup)
    schedule = Schedule(steps=args.steps, lr=args.lr, warmup=max(1, round(args.steps * stage3.schedule.warmup
                                                                             / stage3.schedule.steps)),
                        min_lr=args.lr / 10)
    began = time.perf_counter()
    summary = train(learner, stream, schedule, "ceiling", loss_fn=loss_fn, progress=False)
    scores = {task: round(exact_match(learner, tokenizer, task, args.n, args.seed), 3) for task in SCORED}
    print(json.dumps({"steps": args.steps, "batch": args.batch, "lr": args.lr, "hidden": hidden,
                      "layers": llm.num_hidden_layers, "lookup": args.lookup, "detached": args.detached,
                      "threads": args.threads,
                      "seconds": round(time.perf_counter() - began, 1), "final_loss": summary["final_loss"],
                      "exact_match": scores}, indent=2))


if __name__ == "__main__":
    main()
