"""Streams, seeds, the corpus and the on-disk dataset."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys

import pytest
from PIL import Image

from qwenvl.synthetic import TASKS, iter_corpus, iter_samples, read_manifest, write_dataset
from qwenvl.synthetic.__main__ import main
from qwenvl.synthetic.dataset import to_json
from qwenvl.synthetic.seeds import SPLITS, child_seed, sample_seed, split_of
from qwenvl.synthetic.vocab import COLOURS, SHAPES

KEYS = {"task", "images", "prompt", "answer", "lang", "boxes", "seed"}


def png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("task", TASKS)
def test_every_task_yields_json_ready_records_of_the_schema(task):
    recs = list(iter_samples(task, seed=1, n=4))
    assert len(recs) == 4
    for rec in recs:
        assert set(rec) == KEYS and rec["task"] == task and rec["lang"] in ("en", "zh")
        assert rec["answer"] and isinstance(rec["prompt"], str)
        assert all(im.mode == "RGB" and im.size == (224, 224) for im in rec["images"])
        assert (len(rec["images"]) == 0) == (task == "text")
        row = json.loads(json.dumps(to_json(rec, [f"{i}.png" for i in range(len(rec["images"]))])))
        assert row["answer"] == rec["answer"] and row["boxes"] == rec["boxes"]
        for entry in rec["boxes"]:
            coords = entry["box"] if entry["type"] == "box" else [v for p in entry["quad"] for v in p]
            assert all(0 <= v <= 999 for v in coords)


@pytest.mark.parametrize("task", TASKS)
def test_streams_are_deterministic_and_samples_differ(task):
    a = list(iter_samples(task, seed=5, n=3))
    b = list(iter_samples(task, seed=5, n=3))
    for x, y in zip(a, b):
        assert {k: v for k, v in x.items() if k != "images"} == {k: v for k, v in y.items() if k != "images"}
        assert [png(im) for im in x["images"]] == [png(im) for im in y["images"]]
    assert len({r["answer"] + "".join(str(png(im)) for im in r["images"]) for r in a}) == 3


FINGERPRINT = """
import hashlib, io, json
from qwenvl.synthetic import TASKS, iter_samples
h = hashlib.sha256()
for task in TASKS:
    for rec in iter_samples(task, seed=9, n=2):
        h.update(json.dumps({k: v for k, v in rec.items() if k != "images"}, sort_keys=True).encode())
        for im in rec["images"]:
            buf = io.BytesIO()
            im.save(buf, format="PNG")
            h.update(buf.getvalue())
print(h.hexdigest())
"""


def test_bytes_do_not_depend_on_the_process_or_its_hash_seed():
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", FINGERPRINT], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    assert len(next(iter(digests))) == len(hashlib.sha256().hexdigest())


def test_a_stream_is_endless_and_its_prefix_is_stable():
    stream = iter_samples("vqa_count", seed=2)
    endless = [next(stream) for _ in range(5)]
    finite = list(iter_samples("vqa_count", seed=2, n=3))
    assert [r["seed"] for r in endless[:3]] == [r["seed"] for r in finite]


def test_train_and_held_out_seeds_are_disjoint():
    by_split = {split: {sample_seed(task, seed, i, split) for task in TASKS for seed in (0, 1) for i in range(300)}
                for split in SPLITS}
    for split, seeds in by_split.items():
        assert all(split_of(s) == split for s in seeds)
        assert all(split_of(child_seed(s, "scene", 3)) == split for s in list(seeds)[:50])
    assert not by_split["train"] & by_split["val"]
    assert not by_split["train"] & by_split["test"]
    assert not by_split["val"] & by_split["test"]
    with pytest.raises(ValueError):
        sample_seed("caption", 0, 0, "dev")


def test_held_out_records_differ_from_train_records():
    train = [png(r["images"][0]) for r in iter_samples("caption", 0, 10)]
    val = [png(r["images"][0]) for r in iter_samples("caption", 0, 10, split="val")]
    assert not set(train) & set(val)


def test_language_and_size_options():
    assert {r["lang"] for r in iter_samples("caption", 0, 8, lang="zh")} == {"zh"}
    assert {r["lang"] for r in iter_samples("vqa_colour", 0, 30)} == {"en", "zh"}
    (rec,) = iter_samples("ocr", 0, 1, size=448)
    assert rec["images"][0].size == (448, 448)
    with pytest.raises(ValueError, match="unknown task"):
        next(iter_samples("nope", 0))


def test_task_lists_are_served_in_turn():
    assert [r["task"] for r in iter_samples(["caption", "ocr"], 0, 4)] == ["caption", "ocr", "caption", "ocr"]


def test_corpus_is_deterministic_bilingual_and_covers_the_templates():
    texts = list(iter_corpus(seed=0, n=300))
    assert texts == list(iter_corpus(seed=0, n=300))
    assert texts != list(iter_corpus(seed=1, n=300))
    assert texts[:100] != list(iter_corpus(seed=0, n=100, split="val"))  # short facts may repeat, streams differ
    joined = "\n".join(texts)
    assert re.search("[\u4e00-\u9fff]", joined) and re.search("[A-Za-z]", joined)
    for needle in ("Answer:", "<ref>", "<box>", "回答：", "Describe the image in English:", "plus"):
        assert needle in joined
    assert sum(c.name in joined for c in COLOURS) >= 8 and sum(s.name in joined for s in SHAPES) >= 8
    assert {t for t in iter_corpus(0, 40, lang="en") if re.search("[\u4e00-\u9fff]", t)} == set()


def test_manifest_round_trip(tmp_path):
    tasks = ["grounding", "multi_image", "ocr_quad", "text"]
    path = write_dataset(tmp_path, tasks, n=2, seed=3, progress=False)
    assert path == tmp_path / "manifest.jsonl"
    rows = list(read_manifest(tmp_path))
    expected = [r for t in tasks for r in iter_samples(t, 3, 2)]
    assert len(rows) == len(expected) == 8
    for row, rec in zip(rows, expected):
        assert {k: row[k] for k in KEYS - {"images"}} == {k: rec[k] for k in KEYS - {"images"}}
        assert len(row["images"]) == len(rec["images"])
        for file, image in zip(row["images"], rec["images"]):
            with Image.open(file) as saved:
                assert saved.tobytes() == image.tobytes()
    assert not (tmp_path / "manifest.jsonl.partial").exists()


def test_command_line_writes_a_dataset(tmp_path, capsys):
    main([str(tmp_path), "--tasks", "vqa_yesno,text_vqa", "--n", "2", "--lang", "en", "--split", "test"])
    rows = list(read_manifest(tmp_path))
    assert [r["task"] for r in rows] == ["vqa_yesno"] * 2 + ["text_vqa"] * 2
    assert all(r["lang"] == "en" and split_of(r["seed"]) == "test" for r in rows)
    assert capsys.readouterr().out.strip().endswith("manifest.jsonl")
