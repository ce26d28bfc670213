"""Does the LLM read the picture? Each answer's loss with its own picture and with another's.

    python benchmarks/reads_picture.py --model runs/recipe/stage3
    python benchmarks/reads_picture.py --model runs/recipe/stage2 --format pretrain --tasks vqa_colour grounding

Held-out scenes (the test split) are asked one question each, as the recipe's stages ask
them (`recipe.data`, in the chat or the pretraining format). The loss is taken
on each answer's decisive token only (the colour word, the count, a box's first digit), which
the picture decides, with every row's own picture and with the pictures rolled one row across the
batch. A model that reads the picture has a much lower loss with its own; one that answers from
the question alone scores both the same. The eval scores say how well a model answers; this
says whether the picture is why.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from qwenvl.checkpoint import CheckpointError, load_model
from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.recipe.data import GroupStream, Mix, make_group
from qwenvl.synthetic import sample_seed
from qwenvl.training.packing import Batch, collate
from qwenvl.training.precision import autocast

TASKS = ("vqa_colour", "vqa_shape", "vqa_count", "vqa_position", "grounding")
BATCH = 16  # questions per forward; --rows is rounded up to a multiple


def decisive(tokenizer, answer: list[int]) -> int:
    """The offset in `answer` of the first token the question does not settle: the first digit
    of a box (after `<box>(`), else the answer's first token."""
    box = tokenizer.encode("<box>", "all")[0]
    return answer.index(box) + 2 if box in answer else 0


def held_out_batch(tokenizer, stream: GroupStream, task: str, first: int, n: int) -> tuple[Batch, list[int]]:
    """`n` held-out scenes asked `task` once each, and per row the position predicting the
    answer's decisive token. The answer closes the row: then `<|im_end|>` and a newline (chat) or
    `<|endoftext|>` (pretrain)."""
    examples, where = [], []
    tail = 2 if stream.fmt == "chat" else 1
    for index in range(first, first + 10 * n):
        group = make_group("scene", sample_seed(f"reads-picture/{task}", 0, index, "test"), stream.mix)
        if not group.turns:
            continue
        example = stream.example(group)
        answer = tokenizer.encode(group.turns[-1][1], "all")
        begin = len(example) - tail - len(answer)
        if example.input_ids[begin:begin + len(answer)] != answer:
            raise RuntimeError(f"{task}: the answer is not where a {stream.fmt} row keeps it")
        examples.append(example)
        where.append(begin - 1 + decisive(tokenizer, answer))
        if len(examples) == n:
            return collate([[e] for e in examples], max(map(len, examples)), tokenizer.eod_id), where
    raise RuntimeError(f"{task}: too few held-out scenes can be asked it")


def decisive_token(model, batch: Batch, features: torch.Tensor, where: list[int]) -> tuple[float, float]:
    """(loss, accuracy) of the answers' decisive tokens with `features` as the pictures."""
    hidden = model.transformer(batch.input_ids, features, batch.positions, batch.attention_mask)
    rows = torch.arange(len(where))
    logits = model.lm_head(hidden[rows, where]).float()
    target = batch.targets[rows, where]
    return F.cross_entropy(logits, target).item(), (logits.argmax(-1) == target).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--format", choices=("chat", "pretrain"), default="chat")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--rows", type=int, default=64, help="questions per task")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.rows < 1:
        parser.error(f"--rows must be at least 1, got {args.rows}")
    torch.set_num_threads(args.threads)
    try:
        model = load_model(args.model, dtype="float32").eval()
        tokenizer = QwenTokenizer.from_pretrained(args.model)
    except CheckpointError as e:
        parser.error(str(e))
    results = {}
    for task in args.tasks:
        mix = Mix({"scene": 1.0}, {task: 1.0})
        stream = GroupStream(tokenizer, mix, args.format, args.image_size, BATCH, 0, "reads-picture")
        scores = []  # per batch: (own loss, own accuracy, rolled loss, rolled accuracy)
        with torch.no_grad(), autocast("cpu"):
            for k in range(-(-args.rows // BATCH)):
                batch, where = held_out_batch(tokenizer, stream, task, 1000 * k, BATCH)
                features = model.encode_images(batch.pixels)
                scores.append(decisive_token(model, batch, features, where)
                              + decisive_token(model, batch, features.roll(1, 0), where))
        own_loss, own_acc, rolled_loss, rolled_acc = (sum(col) / len(scores) for col in zip(*scores))
        results[task] = {"own_loss": round(own_loss, 3), "rolled_loss": round(rolled_loss, 3),
                         "own_acc": round(own_acc, 3), "rolled_acc": round(rolled_acc, 3)}
        print(f"{task:13s} decisive-token loss own {own_loss:.3f} · rolled {rolled_loss:.3f}   "
              f"accuracy own {own_acc:.2f} · rolled {rolled_acc:.2f}", flush=True)
    rows = -(-args.rows // BATCH) * BATCH
    print(json.dumps({"model": args.model, "format": args.format, "rows": rows, "results": results}))


if __name__ == "__main__":
    main()
