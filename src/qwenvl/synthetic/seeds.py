"""Per-sample seeds with disjoint train and held-out spaces.

The seed of sample `index` of a stream is a 64-bit BLAKE2b hash of (split, task, base seed,
index) whose two lowest bits are then overwritten with the split's number (train 0, val 1,
test 2). Every seed derived from a sample seed (extra scenes, retries) keeps those two bits, so
no scene, text image or sentence of a held-out split can ever be drawn from a train seed, for
any base seed or task, while each split still gets an endless stream.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")
_SPLIT_BITS = 3  # mask of the two low bits that carry the split


def _hash64(*parts) -> int:
    data = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def split_of(seed: int) -> str:
    """The split a derived seed belongs to."""
    return SPLITS[seed & _SPLIT_BITS]


def sample_seed(task: str, seed: int, index: int, split: str = "train") -> int:
    """The seed of sample `index` in the (`task`, `seed`, `split`) stream."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return (_hash64(split, task, seed, index) & ~_SPLIT_BITS) | SPLITS.index(split)


def child_seed(parent: int, *path) -> int:
    """A seed derived from `parent` (e.g. the 2nd picture, the 3rd retry), in the parent's split."""
    return (_hash64(parent, *path) & ~_SPLIT_BITS) | (parent & _SPLIT_BITS)
