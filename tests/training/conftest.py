"""Fixtures for the training tests: generated data on disk and the real tokenizer."""

from __future__ import annotations

import json

import pytest
from qwenvl_testing import CHECKPOINT
from training_data import pretrain_records, sft_records, write_jsonl, write_shards


@pytest.fixture(scope="session")
def qwen_tokenizer():
    from qwenvl.interface import QwenTokenizer
    return QwenTokenizer.from_pretrained(CHECKPOINT)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """pretrain.jsonl (+ a missing image and a malformed line), sft.json, shards/, bad.jsonl, text.jsonl."""
    root = tmp_path_factory.mktemp("data")
    records = pretrain_records(root, 24)
    write_jsonl(root / "pretrain.jsonl", records,
                ['{"task": "pair", "image": "images/missing.png", "caption": "gone"}', '{"task": "pair", "ima'])
    (root / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    write_jsonl(root / "bad.jsonl", [{"task": "pair", "image": "images/corrupt.png", "caption": "x"}] + records[:5])
    (root / "sft.json").write_text(json.dumps(sft_records(root, 8)), encoding="utf-8")
    write_shards(root / "shards", records, root, per_shard=6)
    write_jsonl(root / "text.jsonl", [{"task": "text", "text": f"Line {i}: squares come in four colours."}
                                      for i in range(12)])
    return root
