"""The per-pair rules of RULE_ORDER: clean the caption, stop at the first failing filter.

Everything except the two corpus-wide duplicate rules is decided here, one pair at a time,
so shards can be cleaned independently and in any process.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from PIL import Image

from . import text
from .config import CleanConfig
from .image import BadImage, decode_bounded, dhash
from .rules import READER_RULES
from .sample import Sample
from .scoring import load_scorer, metadata_score


@dataclass
class Verdict:
    rule: str | None            # first failing rule, None when the pair is kept
    detail: str = ""
    caption: str | None = None  # the cleaned caption, once cleaning has run
    image: Image.Image | None = None
    exact_key: str | None = None  # hex digest for exact dedup (None when dedup.key is "none")
    dhash: int | None = None      # for near-duplicate detection, when enabled
    clip_unscored: bool = False   # kept without a CLIP score: the rule was not applied


class Cleaner:
    """Applies the per-pair rules with one config; caches compiled tag regexes per source."""

    def __init__(self, cfg: CleanConfig):
        self.cfg = cfg
        self._tags: dict[str, re.Pattern | None] = {}

    def __call__(self, sample: Sample, source: str) -> Verdict:
        for rule in READER_RULES:
            if rule in sample.faults:
                return Verdict(rule, sample.faults[rule])
        caption = sample.caption
        tags = self._tag_regex(source)
        if tags is not None:
            found = tags.search(caption)
            if found and self.cfg.tags.action == "drop":
                return Verdict("dataset_tag", f"tag {found.group(0)!r}")
            caption = tags.sub(" ", caption)
        caption = text.clean_caption(caption, self.cfg.text)
        for rule, problem in (("emoji", text.find_emoji(caption)),
                              ("language", text.find_foreign(caption, self.cfg.text.extra_allowed)),
                              ("text_length", text.check_length(caption, self.cfg.text))):
            if problem:
                return Verdict(rule, problem, caption=caption)
        return self._judge_image(sample, source, caption)

    def _judge_image(self, sample: Sample, source: str, caption: str) -> Verdict:
        rules = self.cfg.image
        if "image_decode" in sample.faults:
            return Verdict("image_decode", sample.faults["image_decode"], caption=caption)
        try:
            im = decode_bounded(sample.image, rules.max_bytes, rules.max_pixels)
        except BadImage as e:
            return Verdict("image_decode", str(e), caption=caption)
        w, h = im.size
        if min(w, h) < rules.min_side:
            return Verdict("image_min_size", f"{w}x{h}: shorter side < {rules.min_side}", caption, im)
        if max(w, h) / min(w, h) > rules.max_aspect_ratio:
            return Verdict("aspect_ratio", f"{w}x{h}: ratio {max(w, h) / min(w, h):.2f} > "
                                           f"{rules.max_aspect_ratio}", caption, im)
        threshold = self.cfg.clip.per_source.get(source, self.cfg.clip.threshold)
        unscored = False
        if threshold is not None:
            score = metadata_score(sample.metadata, self.cfg.clip.metadata_keys)
            if score is None and self.cfg.clip.scorer:
                score = float(load_scorer(self.cfg.clip.scorer)(im, caption))
            unscored = score is None
            if score is not None and score < threshold:
                return Verdict("clip_score", f"score {score:.3f} < {threshold}", caption, im)
        return Verdict(None, caption=caption, image=im, exact_key=self._exact_key(sample, caption),
                       dhash=dhash(im) if self.cfg.dedup.near_duplicate else None,
                       clip_unscored=unscored)

    def _tag_regex(self, source: str) -> re.Pattern | None:
        if source not in self._tags:
            patterns = self.cfg.tags.patterns.get("*", []) + self.cfg.tags.patterns.get(source, [])
            self._tags[source] = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        return self._tags[source]

    def _exact_key(self, sample: Sample, caption: str) -> str | None:
        key = self.cfg.dedup.key
        if key == "none":
            return None
        h = hashlib.blake2b(digest_size=16)
        if key in ("pair", "image"):
            h.update(hashlib.blake2b(sample.image, digest_size=16).digest())
        if key in ("pair", "text"):
            h.update(text.dedup_text(caption).encode("utf-8"))
        return h.hexdigest()
