"""Where records come from: JSON/JSONL manifests and WebDataset-style tar shards.

Each source reads one *part* of its data (parts = ranks × loader workers), forever, epoch
after epoch, and says after every record where it stands (a JSON-ready cursor), so a run
can resume at exactly the next record. Records that cannot be read come out as errors to be
counted, never as exceptions.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff")


@dataclass
class Raw:
    """One record as read, with the way to reach its images; `error` names why it is unusable."""

    record: dict | None
    open_image: Callable[[str], object]
    error: str | None = None


def open_source(path: str | Path, root: str | Path | None, part: int, n_parts: int, seed: int):
    """A manifest (.json, .jsonl) or tar shards (a .tar file, a folder of them, or a glob)."""
    path = Path(path)
    if path.suffix in (".json", ".jsonl"):
        if not path.is_file():
            raise FileNotFoundError(f"manifest {path} not found")
        return ManifestSource(path, Path(root) if root else path.parent, part, n_parts, seed)
    shards = sorted(path.glob("*.tar")) if path.is_dir() else sorted(path.parent.glob(path.name))
    if not shards:
        raise FileNotFoundError(f"no manifest or tar shards at {path}")
    return TarSource(shards, part, n_parts, seed)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of n items in one epoch: the same on every rank and worker."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class ManifestSource:
    """Records of a JSON list or a JSONL file, image paths relative to `root`; cursor = records read."""

    def __init__(self, path: Path, root: Path, part: int, n_parts: int, seed: int):
        self.path, self.root, self.seed = path, root, seed
        self.part, self.n_parts = part, n_parts
        if path.suffix == ".json":
            try:
                self.records = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ValueError(f"{path} is not valid JSON: {e}") from None
            if not isinstance(self.records, list):
                raise ValueError(f"{path} must hold a JSON list of records")
            self.size = len(self.records)
        else:
            self.records, self.offsets = None, _line_offsets(path)
            self.size = len(self.offsets)
        self.per_epoch = len(range(part, self.size, n_parts))
        if self.per_epoch == 0:
            raise ValueError(f"{path} has {self.size} record(s): too few for {n_parts} data parts "
                             "(ranks × loader workers)")
        self._file = None

    def read(self, cursor: int = 0) -> Iterator[tuple[Raw, int]]:
        order, epoch = None, -1
        while True:
            if cursor // self.per_epoch != epoch:
                epoch = cursor // self.per_epoch
                order = epoch_order(self.size, self.seed, epoch)[self.part::self.n_parts]
            index = int(order[cursor % self.per_epoch])
            cursor += 1
            yield self._raw(index), cursor

    def _raw(self, index: int) -> Raw:
        try:
            record = self.records[index] if self.records is not None else json.loads(self._line(index))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return Raw(None, self._image, "bad_record")
        if not isinstance(record, dict):
            return Raw(None, self._image, "bad_record")
        return Raw(record, self._image)

    def _line(self, index: int) -> bytes:
        if self._file is None:  # opened lazily: each loader worker gets its own handle
            self._file = open(self.path, "rb")
        self._file.seek(int(self.offsets[index]))
        return self._file.readline()

    def _image(self, ref: str) -> Path | str:
        if ref.startswith(("http://", "https://", "data:")):
            return ref
        return self.root / ref


def _line_offsets(path: Path) -> np.ndarray:
    """Byte offsets of the non-blank lines of a JSONL file, so records are read on demand."""
    offsets, pos = [], 0
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                offsets.append(pos)
            pos += len(line)
    return np.asarray(offsets, dtype=np.int64)


class TarSource:
    """WebDataset-style shards: files sharing a key (`name.jpg`, `name.json`, `name.txt`) are one record.

    With at least as many shards as parts each part reads whole shards; otherwise every part
    reads every shard and keeps every n-th record (staggered by shard, so that short shards
    still feed every part). Shard order is reshuffled each epoch.
    Cursor = [epoch, position in the epoch's shard order, records done in that shard].
    """

    def __init__(self, shards: list[Path], part: int, n_parts: int, seed: int):
        self.seed = seed
        if len(shards) >= n_parts:
            self.shards, self.keep = shards[part::n_parts], None
        else:
            self.shards, self.keep = shards, (part, n_parts)

    def read(self, cursor=None) -> Iterator[tuple[Raw, list[int]]]:
        epoch, pos, done = cursor or (0, 0, 0)
        while True:
            order, found = epoch_order(len(self.shards), self.seed, epoch), pos > 0 or done > 0
            while pos < len(self.shards):
                for i, raw in self._shard(int(order[pos]), done):
                    done, found = i + 1, True
                    yield raw, [epoch, pos, done]
                pos, done = pos + 1, 0
            if not found:
                raise ValueError(f"tar shards {self.shards[0].parent} hold no records for this data part")
            epoch, pos = epoch + 1, 0

    def _shard(self, k: int, skip: int) -> Iterator[tuple[int, Raw]]:
        """(index, record) of this part's records of shard k after the first `skip`; a corrupt shard ends with an error."""
        i = skip
        try:
            with tarfile.open(self.shards[k], "r:*") as tar:
                for i, (key, members) in enumerate(_groups(tar)):
                    if i >= skip and (self.keep is None or (i + k) % self.keep[1] == self.keep[0]):
                        yield i, _tar_record(tar, key, members)
        except (tarfile.TarError, OSError, EOFError):
            yield i, Raw(None, _no_image, "bad_shard")


def _groups(tar: tarfile.TarFile) -> Iterator[tuple[str, dict[str, tarfile.TarInfo]]]:
    """(key, {extension: member}) for runs of files with the same key, in archive order."""
    key, members = None, {}
    for m in tar:
        if not m.isfile():
            continue
        base = m.name.rsplit("/", 1)[-1]
        if "." not in base:
            continue
        k, ext = m.name[:len(m.name) - len(base)] + base.split(".", 1)[0], base.split(".", 1)[1].lower()
        if k != key and members:
            yield key, members
            members = {}
        key = k
        members[ext] = m
    if members:
        yield key, members


def _tar_record(tar: tarfile.TarFile, key: str, members: dict[str, tarfile.TarInfo]) -> Raw:
    data = {ext: tar.extractfile(m).read() for ext, m in members.items()}
    name = key.rsplit("/", 1)[-1]

    def open_image(ref: str) -> bytes:
        ext = ref[len(name) + 1:] if ref.startswith(name + ".") else ref
        if ext not in data:
            raise FileNotFoundError(f"{key}: no member .{ext} in its shard")
        return data[ext]

    try:
        record = json.loads(data["json"]) if "json" in data else {"caption": data["txt"].decode("utf-8")}
    except (KeyError, json.JSONDecodeError, UnicodeDecodeError):
        return Raw(None, open_image, "bad_record")
    if not isinstance(record, dict):
        return Raw(None, open_image, "bad_record")
    images = [ext for ext in data if ext.rsplit(".", 1)[-1] in IMAGE_EXTS]
    if not {"image", "images", "conversations"} & set(record) and len(images) == 1:
        record["image"] = f"{name}.{images[0]}"
    return Raw(record, open_image)


def _no_image(ref: str):
    raise FileNotFoundError(ref)
