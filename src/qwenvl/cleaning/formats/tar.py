"""WebDataset tar shards: consecutive members sharing a key (`KEY.jpg`, `KEY.txt`, `KEY.json`).

Read in stream mode (uncompressed, as `.tar` promises) so a shard is never loaded whole.
Damage is survived where tar allows: corrupt headers are skipped block by block until a valid
one (`ignore_zeros`), a pair that lost members to skipped bytes is charged to `tar_corrupt`,
and every skipped non-zero region is noted as a shard problem; a truncated archive ends the
shard, charging the pair being read, and everything before it is kept.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

from ..atomic import partial_path, publish, remove
from ..config import CleanConfig
from ..sample import Sample

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")


def split_name(name: str) -> tuple[str, str]:
    """WebDataset convention: the key is the path up to the first dot of the file name."""
    folder, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def _end_of(info: tarfile.TarInfo) -> int:
    """Where the next header starts if the archive is intact."""
    return info.offset_data + -(-info.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _has_data(path: Path, start: int, end: int | None) -> bool:
    """Whether bytes tar skipped hold anything: zero blocks are padding (end-of-archive marker,
    concatenated archives), anything else was a corrupt header or the data behind it."""
    with open(path, "rb") as f:
        f.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            chunk = f.read(2**20 if left is None else min(2**20, left))
            if not chunk:
                return False
            if chunk.count(0) != len(chunk):
                return True
            left = None if left is None else left - len(chunk)
    return False


def read(path: Path, cfg: CleanConfig, problems: list[str]) -> Iterator[Sample]:
    key, members = None, []   # members: (name, ext, data or None when too large to read, size)
    near_gap = False          # the current group borders bytes tar had to skip
    expected, reading = 0, None
    try:
        with open(path, "rb") as f, tarfile.open(fileobj=f, mode="r|", ignore_zeros=True) as tf:
            for info in tf:
                gap = info.offset > expected and _has_data(path, expected, info.offset)
                if gap:
                    problems.append(f"{path.name}: skipped {info.offset - expected} corrupt bytes "
                                    f"before {info.name!r}")
                expected = _end_of(info)
                if not info.isfile():
                    continue
                member_key, ext = split_name(info.name)
                if members and member_key != key:
                    yield _sample(key, members, cfg, damaged=near_gap or gap)
                    members, near_gap = [], False
                key, near_gap = member_key, near_gap or gap
                too_big = ext in IMAGE_EXTS and info.size > cfg.image.max_bytes
                reading = info.name
                data = None if too_big else tf.extractfile(info).read()
                reading = None
                members.append((info.name, ext, data, info.size))
    except (tarfile.TarError, OSError, EOFError) as e:
        problems.append(f"{path.name}: archive ends early near {reading or key!r}: {type(e).__name__}: {e}")
        if members or reading:
            sample = _sample(key, members, cfg, damaged=True)
            if reading:
                sample.faults["tar_corrupt"] = f"{reading} is cut off: {e}"
            yield sample
        return
    trailing = _has_data(path, expected, None)
    if trailing:
        problems.append(f"{path.name}: {path.stat().st_size - expected} bytes after the last readable "
                        "member are not a tar archive")
    if members:
        yield _sample(key, members, cfg, damaged=near_gap or trailing)


def _sample(key: str, members: list, cfg: CleanConfig, damaged: bool) -> Sample:
    """One pair from its members; `damaged`: tar skipped or lost bytes next to this group."""
    by_ext: dict[str, tuple] = {}
    for m in members:
        by_ext.setdefault(m[1], m)
    sample = Sample(key=key, carry=[(name, data) for name, _, data, _ in members])
    if "json" in by_ext:
        try:
            meta = json.loads(by_ext["json"][2])
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            meta = None
            sample.faults["metadata_json"] = f"{by_ext['json'][0]}: {e}"
        if meta is not None and not isinstance(meta, dict):
            sample.faults["metadata_json"] = f"{by_ext['json'][0]}: a {type(meta).__name__}, not an object"
        elif meta is not None:
            sample.metadata = meta
    image = next((by_ext[e] for e in IMAGE_EXTS if e in by_ext), None)
    if image is None:
        sample.faults["missing_image"] = f"no .{'/.'.join(IMAGE_EXTS)} member for key {key!r}"
    else:
        sample.image, sample.image_ext = image[2], image[1]
        if image[2] is None:
            sample.faults["image_decode"] = f"{image[3]} bytes > max_bytes {cfg.image.max_bytes}"
    if "txt" not in by_ext:
        sample.faults["missing_caption"] = f"no .txt member for key {key!r}"
    else:
        raw = by_ext["txt"][2]
        try:
            sample.caption = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            sample.caption = raw.decode("utf-8", "replace")
            sample.faults["text_encoding"] = f"{by_ext['txt'][0]}: {e}"
    if damaged and ("missing_image" in sample.faults or "missing_caption" in sample.faults):
        sample.faults["tar_corrupt"] = "members lost to a damaged part of the archive"
    return sample


class Writer:
    """Writes kept pairs with all their original members, the .txt replaced by the clean caption."""

    def __init__(self, dest: Path, cfg: CleanConfig, source: Path):
        self.dest, self.tmp = dest, partial_path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove(self.tmp)
        self._tar = tarfile.open(self.tmp, "w", format=tarfile.PAX_FORMAT)
        self.count = 0

    def write(self, sample: Sample, caption: str) -> None:
        caption_done = False
        for name, data in sample.carry:
            if not caption_done and split_name(name)[1] == "txt":
                data, caption_done = caption.encode("utf-8"), True
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            self._tar.addfile(info, io.BytesIO(data))
        self.count += 1

    def close(self) -> None:
        self._tar.close()
        with open(self.tmp, "rb+") as f:
            os.fsync(f.fileno())

    def commit(self) -> None:
        publish(self.tmp, self.dest)
