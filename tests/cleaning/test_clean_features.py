"""Parquet manifests, the pluggable CLIP scorer, dedup keys, tag stripping and bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from clean_corpus import ROOT, corrupt_header, jpeg, read_output, sha, write_tar

from qwenvl.cleaning.cli import main


def clean(tmp_path, inputs, *sets: str) -> tuple:
    out = tmp_path / "out"
    argv = ["--input", *map(str, inputs), "--output", str(out), "--no-progress"]
    for item in sets:
        argv += ["--set", item]
    assert main(argv) == 0
    return out, json.loads((out / "clean_stats.json").read_text())


def total(doc) -> dict:
    return doc["table"][-1]


def test_parquet_manifest_with_paths_and_inline_bytes(tmp_path):
    import pyarrow as pa  # the optional `clean` extra; the tests need it installed
    import pyarrow.parquet as pq
    src = tmp_path / "in" / "wukong"
    (src / "img").mkdir(parents=True)
    cat, dog = jpeg(120, 100, 1), jpeg(130, 100, 2)
    (src / "img" / "cat.jpg").write_bytes(cat)
    table = pa.table({"image": ["img/cat.jpg", "img/none.jpg", "img/cat.jpg"],
                      "caption": ["<i>一只猫</i> on a sofa", "lost image here", "🐱 cat emoji"],
                      "similarity": [0.4, 0.5, 0.5]})
    pq.write_table(table, src / "paths.parquet")
    pq.write_table(pa.table({"image": [dog], "caption": ["a dog with a ball"], "clip_score": [0.9]}),
                   src / "bytes.parquet")
    out, doc = clean(tmp_path, [tmp_path / "in"])
    assert total(doc)["original"] == 4 and total(doc)["cleaned"] == 2
    assert total(doc)["dropped"] == {"missing_image": 1, "emoji": 1}

    paths = pq.read_table(out / "paths.parquet")
    assert paths.schema == table.schema
    rows = paths.to_pylist()
    assert [r["caption"] for r in rows] == ["一只猫 on a sofa"]
    assert (out / rows[0]["image"]).read_bytes() == cat
    inline = pq.read_table(out / "bytes.parquet").to_pylist()
    assert inline == [{"image": dog, "caption": "a dog with a ball", "clip_score": 0.9}]


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "m.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    assert main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--no-progress"]) == 1
    assert "pip install 'qwenvl[clean]'" in capsys.readouterr().err


def scorer_module(tmp_path, monkeypatch) -> str:
    """A stand-in CLIP: scores by mean brightness, so the test controls the verdict via pixels."""
    (tmp_path / "fake_clip.py").write_text(
        "import numpy as np\n"
        "def score(image, caption):\n"
        "    return float(np.asarray(image).mean()) / 255\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fake_clip:score"


def bright_and_dark_shard(path):
    from PIL import Image
    import io

    def solid(v):
        buf = io.BytesIO()
        Image.new("RGB", (100, 100), (v, v, v)).save(buf, "JPEG")
        return buf.getvalue()
    write_tar(path, [("a.jpg", solid(230)), ("a.txt", b"a bright white wall"),
                     ("b.jpg", solid(20)), ("b.txt", b"a very dark room"),
                     ("c.jpg", solid(20)), ("c.txt", b"dark but scored high"), ("c.json", b'{"similarity": 0.9}')])


def test_pluggable_scorer_is_used_when_metadata_has_no_score(tmp_path, monkeypatch):
    spec = scorer_module(tmp_path, monkeypatch)
    bright_and_dark_shard(tmp_path / "in" / "web" / "0.tar")
    out, doc = clean(tmp_path, [tmp_path / "in"], f"clip.scorer={spec}", "clip.threshold=0.5")
    assert [r[1] for r in read_output(out)] == ["a bright white wall", "dark but scored high"]
    assert total(doc)["dropped"] == {"clip_score": 1}
    assert doc["not_applied"] == {}


def test_without_scorer_unscored_pairs_pass_and_are_reported(tmp_path):
    bright_and_dark_shard(tmp_path / "in" / "web" / "0.tar")
    out, doc = clean(tmp_path, [tmp_path / "in"], "clip.threshold=0.5")
    assert len(read_output(out)) == 3
    assert doc["not_applied"] == {"web": {"clip_score": 2}}


def test_per_source_clip_threshold(tmp_path):
    for source in ("strict", "loose"):
        write_tar(tmp_path / "in" / source / "0.tar",
                  [("a.jpg", jpeg(100, 100, 1)), ("a.txt", b"a scored picture"), ("a.json", b'{"clip_score": 0.3}')])
    out, doc = clean(tmp_path, [tmp_path / "in"], 'clip.per_source={"strict": 0.35}')
    assert [r[0] for r in read_output(out)] == ["loose/0.tar"]


@pytest.mark.parametrize("key, kept", [
    ("pair", ["a red car", "a red car", "a red bike"]),  # only the exact pair repeat goes
    ("image", ["a red car", "a red car"]),                # one caption per image
    ("text", ["a red car", "a red bike"]),                # one image per caption
    ("none", ["a red car", "A red car", "a red car", "a red bike"]),
])
def test_dedup_key_choices(tmp_path, key, kept):
    car, other = jpeg(100, 100, 1), jpeg(100, 100, 3)
    write_tar(tmp_path / "in" / "s" / "0.tar", [
        ("a.jpg", car), ("a.txt", b"a red car"),
        ("b.jpg", car), ("b.txt", b"A red  car"),   # same pair, case/spacing differ
        ("c.jpg", other), ("c.txt", b"a red car"),  # same text, other image
        ("d.jpg", car), ("d.txt", b"a red bike"),   # same image, other text
    ])
    out, _ = clean(tmp_path, [tmp_path / "in"], f"dedup.key={key}")
    assert [r[1] for r in read_output(out)] == kept


def test_dataset_tags_can_be_stripped_instead_of_dropped(tmp_path):
    write_tar(tmp_path / "in" / "sbu" / "0.tar", [
        ("a.jpg", jpeg(100, 100, 1)), ("a.txt", b"<PERSON> walks the dog [SEP] in the park"),
        ("b.jpg", jpeg(100, 100, 2)), ("b.txt", b"#tag1 a sunny beach"),
    ])
    out, _ = clean(tmp_path, [tmp_path / "in"], "tags.action=strip",
                   'tags.patterns={"*": ["<PERSON>", "\\\\[SEP\\\\]"], "sbu": ["#tag\\\\d"]}')
    assert [r[1] for r in read_output(out)] == ["walks the dog in the park", "a sunny beach"]


def test_unreadable_shards_are_reported_not_fatal(tmp_path):
    src = tmp_path / "in" / "junk"
    src.mkdir(parents=True)
    (src / "garbage.tar").write_bytes(b"this is not a tar archive" * 100)
    (src / "empty.jsonl").write_bytes(b"")
    write_tar(src / "ok.tar", [("a.jpg", jpeg(100, 100, 1)), ("a.txt", b"the only good pair")])
    out, doc = clean(tmp_path, [src])
    assert total(doc)["original"] == 1 and total(doc)["cleaned"] == 1
    assert list(doc["shard_problems"]) == ["garbage.tar"]
    assert (out / "garbage.tar").exists() and (out / "empty.jsonl").read_bytes() == b""


def test_corrupt_member_header_loses_only_its_pair(tmp_path):
    shard = tmp_path / "in" / "web" / "0.tar"
    members = []
    for i in range(4):
        members += [(f"k{i}.jpg", jpeg(100, 100, i)), (f"k{i}.txt", f"picture number {i}".encode())]
    write_tar(shard, members)
    corrupt_header(shard, "k1.jpg")
    out, doc = clean(tmp_path, [tmp_path / "in"])
    assert [r[1] for r in read_output(out)] == ["picture number 0", "picture number 2", "picture number 3"]
    assert total(doc)["dropped"] == {"tar_corrupt": 1}
    assert "skipped" in doc["shard_problems"]["0.tar"][0]


def test_concatenated_archives_are_read_whole_without_complaint(tmp_path):
    parts = []
    for i in range(2):
        write_tar(tmp_path / f"part{i}.tar",
                  [(f"k{i}.jpg", jpeg(100, 100, i)), (f"k{i}.txt", f"part {i} here".encode())])
        parts.append((tmp_path / f"part{i}.tar").read_bytes())
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cat.tar").write_bytes(b"".join(parts))  # like `cat a.tar b.tar`
    out, doc = clean(tmp_path, [tmp_path / "in"])
    assert [r[1] for r in read_output(out)] == ["part 0 here", "part 1 here"]
    assert doc["shard_problems"] == {}


def test_missing_input_and_bad_rank_are_clear_errors(tmp_path, capsys, monkeypatch):
    assert main(["--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    write_tar(tmp_path / "in" / "0.tar", [("a.jpg", jpeg(100, 100, 1)), ("a.txt", b"a pair")])
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "o")]) == 1
    assert "rank 3 is outside world size 2" in capsys.readouterr().err


def test_add_parser_plugs_into_a_parent_cli(tmp_path):
    import argparse

    from qwenvl.cleaning import cli

    write_tar(tmp_path / "in" / "0.tar", [("a.jpg", jpeg(100, 100, 1)), ("a.txt", b"a small test pair")])
    parser = argparse.ArgumentParser(prog="qwenvl")
    cli.add_parser(parser.add_subparsers(dest="command").add_parser("clean"))
    args = parser.parse_args(["clean", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                              "--no-progress"])
    assert args.run(args) == 0
    assert len(read_output(tmp_path / "out")) == 1


def test_python_dash_m_entry_point(tmp_path):
    write_tar(tmp_path / "in" / "0.tar", [("a.jpg", jpeg(100, 100, 1)), ("a.txt", b"a small test pair")])
    proc = subprocess.run([sys.executable, "-m", "qwenvl.cleaning", "--input", str(tmp_path / "in"),
                           "--output", str(tmp_path / "out"), "--no-progress"],
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "1/1 pairs kept" in proc.stdout
    assert read_output(tmp_path / "out")[0][2] == sha(jpeg(100, 100, 1))
