"""Bounded decoding, the perceptual hash and the banded Hamming index."""

from __future__ import annotations

import random

import pytest
from clean_corpus import encode, jpeg, picture, png_header_only
from PIL import Image

from qwenvl.cleaning.dedup import HammingIndex
from qwenvl.cleaning.image import BadImage, decode_bounded, dhash


def test_decodes_to_rgb():
    im = decode_bounded(encode(picture(120, 80, 0).convert("L"), "PNG"), 10**6, 10**6)
    assert im.mode == "RGB" and im.size == (120, 80)


def test_too_many_bytes_is_refused_before_opening():
    with pytest.raises(BadImage, match="bytes > max_bytes"):
        decode_bounded(jpeg(100, 100, 0), max_bytes=100, max_pixels=10**9)


def test_pixel_limit_is_checked_on_the_header_before_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(BadImage, match="refused before decoding"):
        decode_bounded(png_header_only(10000, 6000), max_bytes=10**6, max_pixels=50_000_000)


def test_pillow_level_bomb_is_refused_not_raised():
    with pytest.raises(BadImage, match="decompression bomb"):
        decode_bounded(png_header_only(40000, 40000), max_bytes=10**6, max_pixels=10**12)


@pytest.mark.parametrize("data", [b"", b"garbage bytes", jpeg(100, 100, 0)[:300], png_header_only(64, 64)])
def test_corrupt_and_truncated_images_are_refused(data):
    with pytest.raises(BadImage):
        decode_bounded(data, 10**6, 10**6)


def test_dhash_survives_reencoding_and_resizing_but_separates_different_images():
    base = picture(256, 192, 7)
    h = dhash(base)
    assert (h ^ dhash(decode_bounded(encode(base, quality=40), 10**7, 10**7))).bit_count() <= 4
    assert (h ^ dhash(base.resize((128, 96)))).bit_count() <= 4
    others = [dhash(picture(256, 192, seed)) for seed in range(20, 40)]
    assert min((h ^ o).bit_count() for o in others) > 8


@pytest.mark.parametrize("radius", [0, 3, 6])
def test_hamming_index_finds_exactly_the_brute_force_matches(radius):
    rng = random.Random(radius)
    stored = [rng.getrandbits(64) for _ in range(300)]
    index = HammingIndex(radius)
    for label, h in enumerate(stored):
        index.add(h, label)
    queries = [stored[rng.randrange(300)] ^ sum(1 << b for b in rng.sample(range(64), rng.randint(0, radius + 2)))
               for _ in range(300)]
    for q in queries:
        brute = [label for label, h in enumerate(stored) if (h ^ q).bit_count() <= radius]
        found = index.find(q)
        assert (found is None) == (not brute)
        if found is not None:
            assert (stored[found] ^ q).bit_count() <= radius
