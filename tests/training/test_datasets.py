"""Datasets: manifests and tar shards split over parts, bad records counted, exact resume, the mixture."""

from __future__ import annotations

import hashlib
import itertools
import json

import torch
from qwenvl_testing import CHECKPOINT

from qwenvl.training.config import DataConfig, DatasetSpec
from qwenvl.training.datasets import PartStream, TrainLoader, choose_dataset
from qwenvl.training.sources import open_source


def data_cfg(*specs, **kw) -> DataConfig:
    return DataConfig(datasets=list(specs), **{"seq_len": 400, "batch_size": 1, "workers": 0, **kw})


def first_epoch(source) -> list[str]:
    """Identities (content + image bytes) of the records a source yields in its first epoch."""
    out = []
    for raw, cursor in source.read():
        if (cursor[0] if isinstance(cursor, list) else (cursor - 1) // source.per_epoch) > 0:
            return out
        image = raw.open_image(raw.record["image"]) if raw.record and "image" in raw.record else b""
        if raw.error or not (isinstance(image, bytes) or image.exists()):
            continue  # the malformed line and the missing image
        data = image if isinstance(image, bytes) else image.read_bytes()
        rec = {k: v for k, v in raw.record.items() if k != "image"}
        out.append(json.dumps(rec, sort_keys=True) + hashlib.sha1(data).hexdigest())


def test_tar_shards_and_manifests_split_across_parts_without_overlap(data_dir):
    # fewer parts than the 4 shards (whole shards each) and more (every n-th record of every shard)
    for n_parts in (2, 8):
        parts = [first_epoch(open_source(data_dir / "shards", None, p, n_parts, seed=0)) for p in range(n_parts)]
        assert all(parts)
        everything = [r for part in parts for r in part]
        assert len(everything) == len(set(everything)) == 24
    for n_parts in (1, 3):
        parts = [first_epoch(open_source(data_dir / "pretrain.jsonl", None, p, n_parts, seed=0))
                 for p in range(n_parts)]
        assert sum(map(len, parts)) == 24  # 26 lines, one malformed, one whose image is missing
        assert len({r for part in parts for r in part}) == 24


def test_bad_records_are_skipped_and_counted(data_dir, qwen_tokenizer):
    cfg = data_cfg(DatasetSpec(str(data_dir / "pretrain.jsonl")), pack=False)
    stream = PartStream(cfg, qwen_tokenizer, 56, part=0, n_parts=1, seed=0)
    batches = list(itertools.islice(iter(stream), 25))  # 24 usable records per epoch: the 25th is in epoch 2
    state = batches[-1][1]
    skipped = state["skipped"]["pretrain.jsonl"]
    assert skipped["bad_image"] >= 1 and skipped["bad_record"] >= 1
    assert sum(skipped.values()) == state["cursors"][0] - 25  # records read = used + skipped
    corrupt = PartStream(data_cfg(DatasetSpec(str(data_dir / "bad.jsonl"))), qwen_tokenizer, 56, 0, 1, 0)
    state = list(itertools.islice(iter(corrupt), 6))[-1][1]
    assert state["skipped"]["bad.jsonl"] == {"bad_image": 1}


def test_a_truncated_shard_is_counted_not_fatal(data_dir, qwen_tokenizer, tmp_path):
    shards = sorted((data_dir / "shards").glob("*.tar"))
    for s in shards[:2]:
        (tmp_path / s.name).write_bytes(s.read_bytes())
    broken = (tmp_path / shards[1].name)
    broken.write_bytes(broken.read_bytes()[:3000])
    stream = PartStream(data_cfg(DatasetSpec(str(tmp_path), task="pair")), qwen_tokenizer, 56, 0, 1, 0)
    state = list(itertools.islice(iter(stream), 12))[-1][1]
    assert state["skipped"][tmp_path.name].get("bad_shard", 0) >= 1


def batches_equal(a, b) -> bool:
    same_pixels = (a.pixels is None and b.pixels is None) or torch.equal(a.pixels, b.pixels)
    return torch.equal(a.input_ids, b.input_ids) and torch.equal(a.targets, b.targets) and same_pixels


def test_loader_resumes_at_exactly_the_next_batch(data_dir):
    specs = [DatasetSpec(str(data_dir / "pretrain.jsonl"), weight=2), DatasetSpec(str(data_dir / "sft.json")),
             DatasetSpec(str(data_dir / "shards"))]
    for workers in (0, 2):
        cfg = data_cfg(*specs, workers=workers, seq_len=700)
        first = TrainLoader(cfg, str(CHECKPOINT), 56, rank=1, world=2, seed=3)
        for _ in range(5):
            next(first)
        state = json.loads(json.dumps(first.state_dict()))  # what a checkpoint keeps
        expected = [next(first) for _ in range(3)]
        resumed = TrainLoader(cfg, str(CHECKPOINT), 56, rank=1, world=2, seed=3, state=state)
        assert all(batches_equal(next(resumed), e) for e in expected)
        assert resumed.skipped() == first.skipped()


def test_other_ranks_get_other_data(data_dir):
    cfg = data_cfg(DatasetSpec(str(data_dir / "pretrain.jsonl")))
    a = next(TrainLoader(cfg, str(CHECKPOINT), 56, rank=0, world=2, seed=0))
    b = next(TrainLoader(cfg, str(CHECKPOINT), 56, rank=1, world=2, seed=0))
    assert not torch.equal(a.input_ids, b.input_ids)


def test_mixture_follows_the_weights():
    cumulative = [0.75, 1.0]
    picks = [choose_dataset(cumulative, seed=0, part=0, row=r) for r in range(2000)]
    assert 0.72 < picks.count(0) / 2000 < 0.78
    assert picks == [choose_dataset(cumulative, 0, 0, r) for r in range(2000)]  # a pure function
    assert all(choose_dataset([1.0, 1.0], 0, 0, r) == 0 for r in range(100))  # weight 0 is never drawn
