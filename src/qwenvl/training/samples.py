"""A training sample before its images are decoded: token ids, labels and image references."""

from __future__ import annotations

from dataclasses import dataclass, field

IGNORE = -100  # label of a position that is not supervised (PyTorch's cross-entropy ignore_index)


@dataclass
class Sample:
    """`labels[t]` is the token expected at position t (or IGNORE); `images` in `<img>` order."""

    input_ids: list[int]
    labels: list[int]
    images: list[str] = field(default_factory=list)

    def __post_init__(self):
        if len(self.input_ids) != len(self.labels):
            raise ValueError(f"{len(self.input_ids)} ids but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.input_ids)
