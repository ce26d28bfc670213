"""Generated training data for the tests: coloured squares with captions, boxes, dialogues, text."""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path

from PIL import Image

COLORS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}
COLORS_ZH = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色"}


def square_image(path: Path, color: str, box: tuple[int, int, int, int], size: int = 64) -> None:
    image = Image.new("RGB", (size, size), (245, 245, 245))
    image.paste(COLORS[color], box)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def pretrain_records(root: Path, n: int, seed: int = 0) -> list[dict]:
    """n records cycling through the stage-1/2 formats, images written under `root/images`."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        color = rng.choice(sorted(COLORS))
        x, y = rng.randrange(0, 32), rng.randrange(0, 32)
        box = (x, y, x + 24, y + 24)
        rel = f"images/{i:04d}.png"
        square_image(root / rel, color, box)
        kind = i % 6
        if kind == 0:
            records.append({"task": "pair", "image": rel, "caption": f"a {color} square"})
        elif kind == 1:
            records.append({"task": "caption", "image": rel, "caption": f"{COLORS_ZH[color]}的方块", "lang": "zh"})
        elif kind == 2:
            records.append({"task": "vqa", "image": rel, "question": "What colour is the square?", "answer": color})
        elif kind == 3:
            records.append({"task": "ref_grounding", "image": rel, "ref": f"the {color} square", "boxes": [list(box)]})
        elif kind == 4:
            records.append({"task": "caption_grounding", "image": rel, "lang": "en",
                            "spans": ["A ", {"ref": f"{color} square", "boxes": [list(box)]}, " on white"]})
        else:
            records.append({"task": "text", "text": f"The colour {color} is number {i}."})
    return records


def sft_records(root: Path, n: int, seed: int = 1) -> list[dict]:
    """Official fine-tuning JSON records (user/assistant, `Picture 1: <img>…</img>`)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        color = rng.choice(sorted(COLORS))
        rel = f"sft/{i:04d}.png"
        square_image(root / rel, color, (16, 16, 48, 48))
        out.append({"id": f"s{i}", "conversations": [
            {"from": "user", "value": f"Picture 1: <img>{rel}</img>\nWhat colour is the square?"},
            {"from": "assistant", "value": f"It is {color}."},
            {"from": "user", "value": "Box it."},
            {"from": "assistant", "value": "<ref>the square</ref><box>(250,250),(750,750)</box>"}]})
    return out


def write_jsonl(path: Path, records: list[dict], extra_lines: list[str] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_shards(out: Path, records: list[dict], root: Path, per_shard: int) -> list[Path]:
    """WebDataset tar shards: `key.png` + `key.json` per record (the image field names the member)."""
    out.mkdir(parents=True, exist_ok=True)
    shards = []
    for s in range(0, len(records), per_shard):
        path = out / f"shard-{s // per_shard:04d}.tar"
        with tarfile.open(path, "w") as tar:
            for i, rec in enumerate(records[s:s + per_shard]):
                key = f"{s + i:06d}"
                rec = dict(rec)
                if "image" in rec:
                    _add(tar, f"{key}.png", (root / rec.pop("image")).read_bytes())
                _add(tar, f"{key}.json", json.dumps(rec).encode())
        shards.append(path)
    return shards


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
