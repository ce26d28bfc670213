"""Packing: samples attend only to themselves, positions restart, and the loss is unchanged."""

from __future__ import annotations

import torch
from training_helpers import tiny_model

from qwenvl.training.formats import pretrain_sample
from qwenvl.training.loss import token_loss_sum
from qwenvl.training.packing import Example, collate, pack_row
from qwenvl.training.samples import IGNORE
from qwenvl.training.sft import sft_sample


def examples(tokenizer) -> list[Example]:
    torch.manual_seed(0)
    conv = [{"from": "user", "value": "Picture 1: <img>x.png</img>\nWhat is it?"},
            {"from": "assistant", "value": "A square."}]
    samples = [(pretrain_sample(tokenizer, {"image": "a.png", "caption": "a red square"}, "caption", [(9, 9)]), 1),
               (pretrain_sample(tokenizer, {"text": "Just some words here."}, "text", []), 0),
               (sft_sample(tokenizer, conv), 1),
               (pretrain_sample(tokenizer, {"image": "b.png", "question": "Colour?", "answer": "blue"}, "vqa",
                                [(9, 9)]), 1),
               (pretrain_sample(tokenizer, {"text": "Another short text, 12345."}, "text", []), 0)]
    return [Example.from_sample(s, torch.randn(n, 3, 56, 56)) for s, n in samples]


def test_packed_loss_equals_unpacked_loss(qwen_tokenizer):
    model = tiny_model()
    exs = examples(qwen_tokenizer)
    packed = collate([exs[:3], exs[3:]], 800, qwen_tokenizer.eod_id)
    assert packed.input_ids.shape == (2, 800) and packed.n_samples == 5
    padded = collate([[e] for e in exs], max(map(len, exs)), qwen_tokenizer.eod_id)
    alone_sum, alone_n = 0.0, 0
    for e in exs:  # each sample on its own: plain causal attention, default positions
        logits = model(torch.tensor([e.input_ids]), pixel_values=e.pixels if len(e.pixels) else None)[0]
        targets = torch.tensor(e.targets)
        alone_sum += torch.nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum").item()
        alone_n += int((targets != IGNORE).sum())
    alone = alone_sum / alone_n
    assert packed.n_targets == padded.n_targets == alone_n
    packed_loss = token_loss_sum(model, packed).item() / packed.n_targets
    padded_loss = token_loss_sum(model, padded).item() / padded.n_targets
    print(f"loss alone {alone:.6f}, packed {packed_loss:.6f}, padded {padded_loss:.6f}")
    assert abs(packed_loss - alone) < 1e-5 and abs(padded_loss - alone) < 1e-5


def test_positions_restart_and_attention_stays_inside_each_sample(qwen_tokenizer):
    exs = examples(qwen_tokenizer)
    batch = collate([exs[1:2] + exs[4:5]], 40, qwen_tokenizer.eod_id)
    n1, n2 = len(exs[1]), len(exs[4])
    assert batch.positions[0, :n1].tolist() == list(range(n1))
    assert batch.positions[0, n1:n1 + n2].tolist() == list(range(n2))
    mask = batch.attention_mask[0, 0]
    assert mask[n1 + 2, :n1].sum() == 0 and mask[n1 + 2, n1:n1 + 3].all()  # second sample sees only itself
    assert not mask[2, 3] and mask[3, 2]  # causal
    assert batch.targets[0, n1 - 1] == IGNORE  # the last token of a sample predicts nothing
    assert (batch.input_ids[0, n1 + n2:] == qwen_tokenizer.eod_id).all()
    assert (batch.targets[0, n1 + n2:] == IGNORE).all()
    assert batch.n_tokens == n1 + n2


class ListStream:
    def __init__(self, items):
        self.items = list(items)

    def peek(self):
        return self.items[0]

    def pop(self):
        return self.items.pop(0)


def test_pack_row_takes_samples_in_order_and_leaves_the_misfit_for_the_next_row():
    sizes = [5, 4, 6, 3, 9, 2]  # streams never end; the last one only has to be there
    stream = ListStream(Example([1] * n, [IGNORE] * n, torch.empty(0, 3, 8, 8)) for n in sizes)
    assert [len(e) for e in pack_row(stream, 10)] == [5, 4]
    assert [len(e) for e in pack_row(stream, 10)] == [6, 3]
    assert [len(e) for e in pack_row(stream, 10)] == [9]
