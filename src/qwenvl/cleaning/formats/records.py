"""What JSONL and Parquet manifests share: a record per pair with an image path (or bytes).

Image paths are relative to the manifest's folder. Cleaned manifests get their images copied
next to them (`STEM_images/NNNNNNNN.ext`), so an output folder is self-contained.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..atomic import partial_path, publish, remove
from ..config import CleanConfig
from ..sample import Sample

_SURROGATE = re.compile("[\ud800-\udfff]")


def record_sample(record: dict, key: str, base: Path, cfg: CleanConfig) -> Sample:
    fields = cfg.input
    sample = Sample(key=key, metadata=record, carry=record)
    caption = record.get(fields.caption_field)
    if caption is None:
        sample.faults["missing_caption"] = f"no {fields.caption_field!r} field"
    elif not isinstance(caption, str):
        sample.faults["metadata_json"] = f"{fields.caption_field!r} is a {type(caption).__name__}, not a string"
    else:
        # Undecodable bytes arrive as lone surrogates (JSONL lines are decoded with surrogateescape).
        sample.caption = _SURROGATE.sub("\ufffd", caption)
        if sample.caption != caption:
            sample.faults["text_encoding"] = "caption is not valid UTF-8"
    image = record.get(fields.image_field)
    if isinstance(image, (bytes, bytearray)):
        sample.image = bytes(image)
    elif isinstance(image, str) and image:
        _load_image_file(sample, base / image, cfg.image.max_bytes)
    else:
        sample.faults["missing_image"] = f"no {fields.image_field!r} path or bytes"
    return sample


def _load_image_file(sample: Sample, path: Path, max_bytes: int) -> None:
    sample.image_ext = path.suffix.lstrip(".").lower() or "jpg"
    try:
        size = path.stat().st_size
        if size > max_bytes:
            sample.faults["image_decode"] = f"{path.name}: {size} bytes > max_bytes {max_bytes}"
            return
        sample.image = path.read_bytes()
    except OSError as e:
        sample.faults["missing_image"] = f"{path}: {e.strerror or e}"


class ImageFolder:
    """Copies kept images into `STEM_images/` next to a cleaned manifest, published atomically."""

    def __init__(self, manifest: Path):
        self.final = manifest.with_name(manifest.stem + "_images")
        self.tmp = partial_path(self.final)
        remove(self.tmp)
        self.used = False

    def add(self, index: int, sample: Sample) -> str:
        """Store the image; return its path relative to the manifest."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        name = f"{index:08d}.{sample.image_ext}"
        (self.tmp / name).write_bytes(sample.image)
        self.used = True
        return f"{self.final.name}/{name}"

    def commit(self) -> None:
        if self.used:
            publish(self.tmp, self.final)
        else:
            remove(self.final)


def output_record(sample: Sample, caption: str, images: ImageFolder, index: int, cfg: CleanConfig) -> dict:
    record = dict(sample.carry)
    record[cfg.input.caption_field] = caption
    if isinstance(record.get(cfg.input.image_field), str):
        record[cfg.input.image_field] = images.add(index, sample)
    return record
