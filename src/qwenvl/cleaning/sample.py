"""One image-text pair as a reader produced it, before any rule has judged it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sample:
    key: str
    image: bytes | None = None
    image_ext: str = "jpg"
    # Decoded caption; for undecodable bytes a replacement-character version, for display only.
    caption: str | None = None
    metadata: dict = field(default_factory=dict)
    # Problems found while reading, as rule -> detail (rules from rules.READER_RULES, or
    # "image_decode" for an image too large to read); the pipeline reports them in rule order.
    faults: dict[str, str] = field(default_factory=dict)
    # What the format's writer needs to write the pair back (tar members, manifest record).
    carry: Any = None

    def source(self, source_field: str) -> str | None:
        """The source named in the pair's own metadata, if the config enables that key."""
        value = self.metadata.get(source_field) if source_field else None
        return value if isinstance(value, str) and value else None
