"""Build small corpora with known good and bad pairs, and read cleaned output back.

Images are blocky random colour grids: distinct seeds give unrelated dHashes, while the same
grid re-encoded at another JPEG quality stays within a few bits (a near duplicate).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def picture(w: int, h: int, seed: int) -> Image.Image:
    grid = np.random.default_rng(seed).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(grid).resize((w, h), Image.Resampling.NEAREST)


def encode(im: Image.Image, fmt: str = "JPEG", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()


def jpeg(w: int, h: int, seed: int, quality: int = 90) -> bytes:
    return encode(picture(w, h, seed), quality=quality)


def png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels, with a tiny IDAT: a decompression-bomb stand-in."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def write_tar(path: Path, members: list[tuple[str, bytes]], cut_last: bool = False) -> None:
    """Write members in order; `cut_last` truncates the archive in the middle of the last member."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            last_data_offset = tf.offset + tarfile.BLOCKSIZE  # one header block per member (ustar)
            tf.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    path.write_bytes(raw[: last_data_offset + len(members[-1][1]) // 2] if cut_last else raw)


def corrupt_header(path: Path, member: str) -> None:
    """Overwrite the checksum of one member's header, as a bit flip on disk would."""
    with tarfile.open(path) as tf:
        offset = tf.getmember(member).offset
    raw = bytearray(path.read_bytes())
    raw[offset + 148: offset + 156] = b"garbage!"
    path.write_bytes(bytes(raw))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass
class Corpus:
    root: Path
    # (shard rel path, key) -> rule; kept: (shard rel path, cleaned caption) -> image sha
    dropped: dict[tuple[str, str], str] = field(default_factory=dict)
    kept: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.dropped) + len(self.kept)


def build_corpus(root: Path) -> Corpus:
    """Three tar shards (one truncated) and a JSONL manifest with every kind of bad pair."""
    c = Corpus(root)
    red_car = jpeg(160, 120, 1)
    kitten = jpeg(150, 100, 3)

    shard0 = [
        ("k00.jpg", red_car), ("k00.txt", b"A red car parked on the street"), ("k00.json", b'{"clip_score": 0.35}'),
        ("k01.jpg", jpeg(160, 120, 2)), ("k01.txt", b"<p>Two dogs</p> playing &amp; running<br>in the park"),
        ("k02.jpg", kitten), ("k02.txt", "一只小猫在沙发上睡觉。".encode()),
        ("k03.jpg", jpeg(120, 160, 4)), ("k03.txt", b"Great view!!!! of the\\nmountains http://example.com/a.jpg"),
        ("k04.jpg", jpeg(100, 100, 5)), ("k04.txt", b"<PERSON> standing next to a car"),
        ("k05.jpg", jpeg(100, 100, 6)), ("k05.txt", "happy dog 🐶 on the beach".encode()),
        ("k06.jpg", jpeg(100, 100, 7)), ("k06.txt", "собака на пляже".encode()),
        ("k07.jpg", jpeg(100, 100, 8)), ("k07.txt", b"ok"),
        ("k08.jpg", b"this is not an image at all"), ("k08.txt", b"a broken image file"),
        ("k09.jpg", jpeg(40, 40, 9)), ("k09.txt", b"a tiny image of a cat"),
        ("k10.jpg", jpeg(400, 100, 10)), ("k10.txt", b"a very wide panorama of hills"),
        ("k11.jpg", jpeg(100, 100, 11)), ("k11.txt", b"a picture with a low score"),
        ("k11.json", b'{"clip_score": 0.1}'),
        ("k12.txt", b"a caption without its image"),
        ("k13.jpg", jpeg(100, 100, 13)),
        ("k14.jpg", jpeg(100, 100, 14)), ("k14.txt", b"caf\xff bad bytes here"),
        ("k15.jpg", jpeg(100, 100, 15)), ("k15.txt", b"nice metadata file"), ("k15.json", b"{not json"),
        ("k16.png", png_header_only(10000, 6000)), ("k16.txt", b"a huge image header"),
    ]
    write_tar(root / "cc12m" / "000.tar", shard0)
    c.kept.update({
        ("cc12m/000.tar", "A red car parked on the street"): sha(red_car),
        ("cc12m/000.tar", "Two dogs playing & running in the park"): sha(dict(shard0)["k01.jpg"]),
        ("cc12m/000.tar", "一只小猫在沙发上睡觉。"): sha(kitten),
        ("cc12m/000.tar", "Great view! of the mountains"): sha(dict(shard0)["k03.jpg"]),
    })
    for key, rule in [("k04", "dataset_tag"), ("k05", "emoji"), ("k06", "language"), ("k07", "text_length"),
                      ("k08", "image_decode"), ("k09", "image_min_size"), ("k10", "aspect_ratio"),
                      ("k11", "clip_score"), ("k12", "missing_image"), ("k13", "missing_caption"),
                      ("k14", "text_encoding"), ("k15", "metadata_json"), ("k16", "image_decode")]:
        c.dropped[("cc12m/000.tar", key)] = rule

    lake = jpeg(200, 150, 20)
    write_tar(root / "cc12m" / "001.tar", [
        ("k00.jpg", red_car), ("k00.txt", b"a red car  parked on the STREET"),
        ("k01.jpg", encode(picture(160, 120, 1), quality=60)), ("k01.txt", b"Another photo of a red car"),
        ("k02.jpg", lake), ("k02.txt", b"Mountain lake at sunrise"),
        ("k03.jpg", jpeg(100, 100, 21)), ("k03.txt", b"word " * 300),
    ])
    c.kept[("cc12m/001.tar", "Mountain lake at sunrise")] = sha(lake)
    c.dropped.update({("cc12m/001.tar", "k00"): "duplicate", ("cc12m/001.tar", "k01"): "near_duplicate",
                      ("cc12m/001.tar", "k03"): "text_length"})

    fruit = jpeg(180, 120, 30)
    write_tar(root / "cc12m" / "002.tar", [
        ("k00.jpg", fruit), ("k00.txt", b"A bowl of fresh fruit"),
        ("k01.txt", b"the last pair, cut off"), ("k01.jpg", jpeg(300, 300, 31, quality=95)),
    ], cut_last=True)
    c.kept[("cc12m/002.tar", "A bowl of fresh fruit")] = sha(fruit)
    c.dropped[("cc12m/002.tar", "k01")] = "tar_corrupt"

    images = root / "coco" / "images"
    images.mkdir(parents=True)
    bike, dumplings = jpeg(160, 160, 40), encode(picture(128, 96, 41), "PNG")
    (images / "bike.jpg").write_bytes(bike)
    (images / "other.jpg").write_bytes(jpeg(100, 100, 42))
    (images / "kitten.jpg").write_bytes(kitten)
    (images / "dumplings.png").write_bytes(dumplings)
    lines = [
        json.dumps({"image": "images/bike.jpg", "caption": "A man riding a bicycle", "similarity": 0.5}).encode(),
        json.dumps({"image": "images/nope.jpg", "caption": "a missing picture file"}).encode(),
        b'{"image": "images/other.jpg", "caption": ',
        b'{"image": "images/other.jpg", "caption": "bad \xff\xfe text"}',
        json.dumps({"image": "images/kitten.jpg", "caption": "一只小猫在沙发上睡觉。"}, ensure_ascii=False).encode(),
        json.dumps({"image": "images/dumplings.png", "caption": "A plate of dumplings 一盘饺子"},
                   ensure_ascii=False).encode(),
        json.dumps({"image": "images/bike.jpg", "caption": 42}).encode(),
    ]
    (root / "coco" / "cap.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    c.kept[("coco/cap.jsonl", "A man riding a bicycle")] = sha(bike)
    c.kept[("coco/cap.jsonl", "A plate of dumplings 一盘饺子")] = sha(dumplings)
    c.dropped.update({("coco/cap.jsonl", "L2"): "missing_image", ("coco/cap.jsonl", "L3"): "metadata_json",
                      ("coco/cap.jsonl", "L4"): "text_encoding", ("coco/cap.jsonl", "L5"): "duplicate",
                      ("coco/cap.jsonl", "L7"): "metadata_json"})
    return c


CORPUS_CONFIG = {"dedup": {"near_duplicate": True}, "report": {"gallery_samples": 2}}


def read_output(out: Path) -> list[tuple[str, str, str]]:
    """Every written pair as (shard rel path, caption, image sha), in file order."""
    records = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if rel.startswith("_") or not path.is_file():
            continue
        if path.suffix == ".tar":
            with tarfile.open(path) as tf:
                members = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}
            keys = sorted({name.split(".")[0] for name in members})
            for key in keys:
                image = next(v for k, v in members.items()
                             if k.split(".")[0] == key and not k.endswith((".txt", ".json")))
                records.append((rel, members[f"{key}.txt"].decode(), sha(image)))
        elif path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                records.append((rel, rec["caption"], sha((path.parent / rec["image"]).read_bytes())))
    return records


def tree(out: Path) -> dict[str, bytes]:
    """All files under `out` with their bytes, for byte-exact comparison of two runs."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
