"""JSONL manifests: one `{"image": relpath, "caption": ..., ...}` object per line.

Lines are decoded with `surrogateescape`, so a caption with invalid UTF-8 is still parsed and
reported as `text_encoding` rather than making the whole line unreadable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Iterator

from ..atomic import partial_path, publish, remove
from ..config import CleanConfig
from ..sample import Sample
from .records import ImageFolder, output_record, record_sample


def read(path: Path, cfg: CleanConfig, problems: list[str]) -> Iterator[Sample]:
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                yield _line_sample(raw, lineno, path.parent, cfg)
    except OSError as e:
        problems.append(f"{path.name}: reading stopped: {e}")


def _line_sample(raw: bytes, lineno: int, base: Path, cfg: CleanConfig) -> Sample:
    key = f"L{lineno}"
    try:
        record = json.loads(raw.decode("utf-8", "surrogateescape"))
    except json.JSONDecodeError as e:
        return Sample(key=key, caption=raw[:200].decode("utf-8", "replace"),
                      faults={"metadata_json": f"line {lineno}: {e}"})
    if not isinstance(record, dict):
        return Sample(key=key, faults={"metadata_json": f"line {lineno}: a {type(record).__name__}, not an object"})
    return record_sample(record, str(record.get("key", key)), base, cfg)


class Writer:
    def __init__(self, dest: Path, cfg: CleanConfig, source: Path):
        self.cfg, self.dest, self.tmp = cfg, dest, partial_path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove(self.tmp)
        self.images = ImageFolder(dest)
        self._file = open(self.tmp, "wb")
        self.count = 0

    def write(self, sample: Sample, caption: str) -> None:
        record = output_record(sample, caption, self.images, self.count, self.cfg)
        try:
            line = json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that did not come from our decoding
            line = json.dumps(record, ensure_ascii=True).encode("ascii")
        self._file.write(line + b"\n")
        self.count += 1

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def commit(self) -> None:
        self.images.commit()
        publish(self.tmp, self.dest)
