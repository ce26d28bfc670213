"""Where does grounding fail: the search, the phrase it is keyed on, or the picture? A probe.

    python benchmarks/probe_lookup.py --model runs/recipe/stage3
    python benchmarks/probe_lookup.py --model runs/recipe/stage3 --rows 400 --layer 2 --head 0

Held-out scenes (the test split) are asked one grounding question each in ChatML, and the gold
answer is given (teacher forcing). Four things are measured at once:
- **find**: at the `<box>` position, before any coordinate is written, does the lookup head
  (`recipe.lookup`, block 2 head 0 in the recipe) put its largest attention on a cell of the
  named object, and how much of its attention lies there? Later positions of the box can find
  the object from the coordinates already written, so only `<box>` shows the search itself.
- **tokens**: how well a linear probe reads the colour and the shape of the object on each image
  token from what each LLM block receives there (the picture side of the search).
- **phrase**: how well a linear probe reads the colour and the shape the phrase names from what
  each block receives at `<box>` (the text side of the search).
- **keyed_search**: how often a search the probe learns finds the object from what each block
  receives at the image tokens, keyed on the phrase's gold words: its query is a sum of learnt
  vectors for the colour, shape, size and place the phrase names, its key a linear map of each
  image token. Where this beats `find`, the tokens allow a better search than the model makes.
Probes are fitted on the first three quarters of the rows and scored on the rest.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from qwenvl.checkpoint import CheckpointError, load_model
from qwenvl.interface.tokenizer import QwenTokenizer
from qwenvl.model import QWenLMHeadModel
from qwenvl.model.language import apply_rotary
from qwenvl.recipe.data import GroupStream, Mix, make_group
from qwenvl.recipe.lookup import HeadLookup, box_lookups
from qwenvl.synthetic import sample_seed
from qwenvl.synthetic.scenes import cell_owners
from qwenvl.synthetic.describe import POSITIONS
from qwenvl.synthetic.templates import colour_word, place_words, shape_word, size_word
from qwenvl.synthetic.vocab import COLOURS, SHAPES, SIZES
from qwenvl.training.packing import collate

BATCH = 16
KINDS = {"colour": [c.name for c in COLOURS], "shape": [s.name for s in SHAPES], "size": [s.name for s in SIZES],
         "place": list(POSITIONS)}
WORDS = {"colour": colour_word, "shape": shape_word, "size": size_word, "place": place_words}
PROBED = ("colour", "shape")  # what the tokens and phrase probes read


def load(path: str) -> tuple[QWenLMHeadModel, QwenTokenizer]:
    """A checkpoint in float32 with plain weights (the lookup head's q and k are recomputed from them)."""
    return load_model(path, "float32", inference=False), QwenTokenizer.from_pretrained(path)


def named(phrase: str, kind: str) -> str | None:
    """The one colour (shape, size, place) a phrase names, in English or Chinese; None for none or several."""
    hits = [name for name in KINDS[kind] if any(WORDS[kind](name, lang) in phrase for lang in ("en", "zh"))]
    return hits[0] if len(hits) == 1 else None


def found(attention: torch.Tensor, keys: list[int], first: int, count: int) -> tuple[bool, float]:
    """For one query's attention over all positions: whether its largest weight among the picture's
    `count` image tokens (from `first`) is on one of `keys`, and the weight on `keys`."""
    top = first + int(attention[first:first + count].argmax())
    return top in keys, float(attention[keys].sum())


def probe_accuracy(x: torch.Tensor, y: torch.Tensor, steps: int = 300) -> float:
    """Held-out accuracy of a linear probe (standardised inputs, AdamW) fitted on the first 3/4."""
    cut = max(1, len(y) * 3 // 4)
    if cut >= len(y):
        return float("nan")
    mean, std = x[:cut].mean(0), x[:cut].std(0) + 1e-5
    x = (x - mean) / std
    linear = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    optimizer = torch.optim.AdamW(linear.parameters(), 1e-2, weight_decay=1e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(linear(x[:cut]), y[:cut]).backward()
        optimizer.step()
    with torch.no_grad():
        return float((linear(x[cut:]).argmax(-1) == y[cut:]).float().mean())


def keyed_search(tokens: torch.Tensor, words: torch.Tensor, targets: torch.Tensor, steps: int = 400) -> float:
    """Held-out find rate of a search fitted on the first 3/4 of the rows: `tokens` (rows, image
    tokens, width), `words` (rows, len(KINDS)) the index of the word of each kind the phrase names
    (len of the kind's names for none), `targets` (rows, image tokens) the named object's cells.
    Fitted as the lookup is trained: -log of the softmax mass on the targets."""
    cut = max(1, len(words) * 3 // 4)
    if cut >= len(words):
        return float("nan")
    mean, std = tokens[:cut].mean((0, 1)), tokens[:cut].std((0, 1)) + 1e-5
    tokens = (tokens - mean) / std
    query = torch.nn.ModuleList(torch.nn.Embedding(len(names) + 1, 64) for names in KINDS.values())
    key = torch.nn.Linear(tokens.shape[-1], 64)
    optimizer = torch.optim.AdamW([*query.parameters(), *key.parameters()], 1e-2, weight_decay=1e-3)

    def scores(rows: slice) -> torch.Tensor:
        q = sum(table(words[rows, k]) for k, table in enumerate(query))
        return (key(tokens[rows]) @ q.unsqueeze(-1)).squeeze(-1)

    for _ in range(steps):
        optimizer.zero_grad()
        logp = scores(slice(0, cut)).log_softmax(-1)
        (-torch.logsumexp(logp.masked_fill(~targets[:cut], float("-inf")), -1)).mean().backward()
        optimizer.step()
    with torch.no_grad():
        top = scores(slice(cut, None)).argmax(-1)
        return float(targets[cut:][torch.arange(len(top)), top].float().mean())


def attention_at(lookup: HeadLookup, x: torch.Tensor, rope, mask: torch.Tensor, where: list[int]) -> torch.Tensor:
    """The lookup head's attention (rows, positions) at one query position a row."""
    attn = lookup.attn
    h, d = attn.cfg.num_attention_heads, attn.cfg.head_dim
    picked = torch.cat([torch.arange(d) + lookup.head * d, torch.arange(d) + (h + lookup.head) * d])
    qk = F.linear(x, attn.c_attn.weight[picked], attn.c_attn.bias[picked]).view(*x.shape[:2], 2, 1, d)
    q, k = apply_rotary(qk, *rope).squeeze(3).unbind(2)
    rows = torch.arange(len(where))
    scores = (q[rows, where].unsqueeze(1) @ k.transpose(1, 2)).squeeze(1) * d ** -0.5
    return scores.masked_fill(~mask[rows, 0, where], float("-inf")).softmax(-1)


def measure(model: QWenLMHeadModel, tokenizer: QwenTokenizer, rows: int, layer: int, head: int) -> dict:
    grid, count = model.cfg.adapter.grid, model.cfg.adapter.n_queries
    stream = GroupStream(tokenizer, Mix({"scene": 1.0}, {"grounding": 1.0}), "chat", model.cfg.vision.image_size,
                         BATCH, 0, "probe-lookup")
    lookup = HeadLookup(model, layer, head)  # refuses a block or head the model lacks
    inputs: dict[int, torch.Tensor] = {}
    hooks = [block.register_forward_pre_hook(lambda _, args, i=i: inputs.__setitem__(i, args[0].detach()))
             for i, block in enumerate(model.transformer.h)]
    hits, masses, tokens, at_box = [], [], {}, {}
    token_labels = {kind: [] for kind in PROBED}
    phrase_labels = {kind: [] for kind in PROBED}
    words, targets = [], []
    index = 0
    try:
        while len(hits) < rows:
            groups = []
            while len(groups) < BATCH:
                group = make_group("scene", sample_seed("probe-lookup", 0, index, "test"), stream.mix)
                index += 1
                if group.turns:
                    groups.append(group)
            examples = [stream.example(g) for g in groups]
            batch = collate([[e] for e in examples], max(map(len, examples)), tokenizer.eod_id)
            with torch.no_grad():
                model.transformer(batch.input_ids, model.encode_images(batch.pixels), batch.positions,
                                  batch.attention_mask)
                x, rope, _, mask = lookup.inputs[:4]
                plans = [box_lookups(tokenizer, e.input_ids, e.targets, grid) for e in examples]
                probs = attention_at(lookup, x, rope, mask, [p[0][0][0] for p in plans])
            for r, (group, example, plan) in enumerate(zip(groups, examples, plans)):
                (queries, keys), first = plan[0], example.input_ids.index(tokenizer.img_start_id) + 1
                hit, mass = found(probs[r], keys, first, count)
                hits.append(hit)
                masses.append(mass)
                scene, phrase = group.scenes[0], group.turns[0][0]
                owners = cell_owners(scene, grid)
                for i, hidden in inputs.items():  # copies: a view would keep the whole batch's activations
                    tokens.setdefault(i, []).append(hidden[r, first:first + count].clone())
                    at_box.setdefault(i, []).append(hidden[r, queries[0]].clone())
                words.append([KINDS[kind].index(name) if (name := named(phrase, kind)) else len(KINDS[kind])
                              for kind in KINDS])
                targets.append(torch.zeros(count, dtype=torch.bool).index_fill_(0, torch.tensor(keys) - first, True))
                for kind in PROBED:
                    token_labels[kind].append(torch.tensor([KINDS[kind].index(getattr(scene.objects[o], kind))
                                                            if o >= 0 else -1 for o in owners]))
                    phrase_labels[kind].append(named(phrase, kind))
    finally:
        lookup.close()
        for hook in hooks:
            hook.remove()
    n = len(hits)
    report = {"rows": n, "find": {"top_in_target": round(sum(hits) / n, 3), "mass": round(sum(masses) / n, 3)},
              "tokens": {}, "phrase": {}}
    for kind in PROBED:
        labels = torch.cat(token_labels[kind])
        on = labels >= 0
        report["tokens"][kind] = [round(probe_accuracy(torch.cat(tokens[i])[on], labels[on]), 3)
                                  for i in sorted(tokens)]
        kept = [k for k, name in enumerate(phrase_labels[kind]) if name is not None]
        y = torch.tensor([KINDS[kind].index(phrase_labels[kind][k]) for k in kept], dtype=torch.long)
        report["phrase"][kind] = [round(probe_accuracy(torch.stack(at_box[i])[kept], y), 3) if kept else None
                                  for i in sorted(at_box)]
    words_t, targets_t = torch.tensor(words), torch.stack(targets)
    report["keyed_search"] = [round(keyed_search(torch.stack(tokens[i]).float(), words_t, targets_t), 3)
                              for i in sorted(tokens)]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a chat checkpoint of the recipe")
    parser.add_argument("--rows", type=int, default=400, help="held-out grounding questions")
    parser.add_argument("--layer", type=int, default=2, help="the lookup head's block")
    parser.add_argument("--head", type=int, default=0, help="the lookup head")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.rows < 8:
        parser.error(f"--rows must be at least 8, got {args.rows}")
    torch.set_num_threads(args.threads)
    try:
        model, tokenizer = load(args.model)
    except CheckpointError as e:
        parser.error(str(e))
    try:
        report = measure(model, tokenizer, args.rows, args.layer, args.head)
    except ValueError as e:
        parser.error(str(e))
    print(json.dumps({"model": args.model, "layer": args.layer, "head": args.head, **report}))


if __name__ == "__main__":
    main()
