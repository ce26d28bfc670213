"""Cleaning thresholds as dataclasses, loaded from YAML/JSON and overridden with `KEY=VALUE`.

The paper names the rules but few numbers; each default below says why it was chosen. The
config's fingerprint is stored in the output folder so a restart cannot silently mix shards
cleaned under different thresholds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CleaningError


@dataclass(frozen=True)
class ImageRules:
    # Both limits are checked before any pixel is decoded (bytes first, then the header's size),
    # so a decompression bomb costs a header parse, not gigabytes of memory.
    max_bytes: int = 20 * 2**20
    max_pixels: int = 50_000_000
    # Shorter side: Qwen-VL trains at 224 px; below 64 px an image is mostly upsampling blur.
    min_side: int = 64
    # Long/short side: the model squashes images to a square; past 3:1 the content is distorted.
    max_aspect_ratio: float = 3.0


IRREGULAR_PATTERNS = ("zero_width", "escapes", "urls", "emails", "filenames", "repeated_punct")


@dataclass(frozen=True)
class TextRules:
    # Bounds apply to the cleaned caption. Words are ASCII alphanumeric runs plus one per CJK
    # ideograph, so "一只猫" (a cat) counts three words, like its English translation would.
    min_chars: int = 3
    max_chars: int = 1000
    min_words: int = 2
    max_words: int = 256
    strip_html: bool = True
    irregular: tuple[str, ...] = IRREGULAR_PATTERNS
    # Characters to allow beyond English/Chinese text, e.g. "°é" for a looser corpus.
    extra_allowed: str = ""


@dataclass(frozen=True)
class ClipRules:
    # 0.28 is LAION-400M's cut for ViT-B/32 cosine similarity; the paper tunes it per dataset,
    # hence per_source. None disables the rule.
    threshold: float | None = 0.28
    per_source: dict[str, float] = field(default_factory=dict)
    metadata_keys: tuple[str, ...] = ("clip_score", "similarity", "clip_similarity")
    # "module:function" called as fn(PIL.Image (RGB), caption) -> float when metadata has no
    # score; without one such pairs pass and are counted as "not applied".
    scorer: str | None = None


@dataclass(frozen=True)
class TagRules:
    # Regexes per source ("*" applies to every source). The paper removes CC12M/SBU pairs whose
    # text has such tags ("drop"); "strip" keeps the pair and deletes only the tag.
    patterns: dict[str, list[str]] = field(
        default_factory=lambda: {"*": [r"<PERSON>", r"\[SEP\]"]})
    action: str = "drop"


DEDUP_KEYS = ("pair", "image", "text", "none")


@dataclass(frozen=True)
class DedupRules:
    # "pair" (image bytes AND normalized caption) is the default because it never throws away a
    # distinct caption; "image" keeps one caption per image file, "text" one image per caption.
    key: str = "pair"
    # Near-duplicate images by 64-bit dHash; off by default because flat images (logos, blank
    # banners) collide and would lose unrelated captions.
    near_duplicate: bool = False
    max_hamming: int = 4


@dataclass(frozen=True)
class InputRules:
    caption_field: str = "caption"
    image_field: str = "image"
    # Metadata key that names a pair's source; empty disables it.
    source_field: str = "source"
    # Glob over the shard path -> source name; otherwise the shard's parent folder names it.
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportRules:
    gallery_samples: int = 4
    thumbnail_px: int = 128


@dataclass(frozen=True)
class CleanConfig:
    image: ImageRules = field(default_factory=ImageRules)
    text: TextRules = field(default_factory=TextRules)
    clip: ClipRules = field(default_factory=ClipRules)
    tags: TagRules = field(default_factory=TagRules)
    dedup: DedupRules = field(default_factory=DedupRules)
    input: InputRules = field(default_factory=InputRules)
    report: ReportRules = field(default_factory=ReportRules)


def config_from_dict(data: dict) -> CleanConfig:
    """Build and validate a config; unknown keys are errors so typos do not silently do nothing."""
    if not isinstance(data, dict):
        raise CleaningError(f"config must be a mapping of sections, got {type(data).__name__}")
    sections = {}
    for f in dataclasses.fields(CleanConfig):
        given = data.get(f.name, {})
        if not isinstance(given, dict):
            raise CleaningError(f"config section '{f.name}' must be a mapping")
        section_cls = type(f.default_factory())
        defaults = section_cls()
        known = {sf.name for sf in dataclasses.fields(section_cls)}
        for key in given:
            if key not in known:
                raise CleaningError(f"unknown config key '{f.name}.{key}'; known: {sorted(known)}")
        values = {k: tuple(v) if isinstance(getattr(defaults, k), tuple) and isinstance(v, list) else v
                  for k, v in given.items()}
        sections[f.name] = section_cls(**values)
    for key in data:
        if key not in sections:
            raise CleaningError(f"unknown config section '{key}'; known: {sorted(sections)}")
    cfg = CleanConfig(**sections)
    validate(cfg)
    return cfg


def load_config(path: str | Path | None, overrides: list[str] = ()) -> CleanConfig:
    """Defaults, then the YAML/JSON file, then `section.key=value` overrides (values parsed as JSON)."""
    data: dict = {}
    if path is not None:
        data = _read_file(Path(path))
    for item in overrides:
        name, sep, raw = item.partition("=")
        parts = name.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise CleaningError(f"override {item!r} must look like section.key=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        data.setdefault(parts[0], {})
        if not isinstance(data[parts[0]], dict):
            raise CleaningError(f"config section '{parts[0]}' must be a mapping")
        data[parts[0]][parts[1]] = value
    return config_from_dict(data)


def _read_file(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CleaningError(f"cannot read config {path}: {e}") from e
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as e:
            raise CleaningError(f"{path} is YAML but PyYAML is not installed (pip install pyyaml)") from e
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise CleaningError(f"config {path} is not valid YAML: {e}") from e
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CleaningError(f"config {path} is not valid JSON: {e}") from e
    return data or {}


def fingerprint(cfg: CleanConfig) -> str:
    """Stable hash of every threshold; outputs made under another fingerprint are not reused."""
    blob = json.dumps(dataclasses.asdict(cfg), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def validate(cfg: CleanConfig) -> None:
    """Reject values that would make a rule meaningless, naming the offending key."""
    img, txt = cfg.image, cfg.text
    _positive_int("image.max_bytes", img.max_bytes)
    _positive_int("image.max_pixels", img.max_pixels)
    _positive_int("image.min_side", img.min_side)
    _number("image.max_aspect_ratio", img.max_aspect_ratio, minimum=1.0)
    for name in ("min_chars", "max_chars", "min_words", "max_words"):
        _positive_int(f"text.{name}", getattr(txt, name), allow_zero=True)
    if txt.min_chars > txt.max_chars or txt.min_words > txt.max_words:
        raise CleaningError("text.min_chars/min_words must not exceed text.max_chars/max_words")
    for name in txt.irregular:
        if name not in IRREGULAR_PATTERNS:
            raise CleaningError(f"text.irregular: unknown pattern {name!r}; known: {IRREGULAR_PATTERNS}")
    if not isinstance(txt.extra_allowed, str):
        raise CleaningError("text.extra_allowed must be a string of characters")
    if cfg.clip.threshold is not None:
        _number("clip.threshold", cfg.clip.threshold)
    for source, value in cfg.clip.per_source.items():
        _number(f"clip.per_source.{source}", value)
    if cfg.clip.scorer is not None and not re.fullmatch(r"[\w.]+:\w+", cfg.clip.scorer):
        raise CleaningError(f"clip.scorer must be 'module:function', got {cfg.clip.scorer!r}")
    if cfg.tags.action not in ("drop", "strip"):
        raise CleaningError(f"tags.action must be 'drop' or 'strip', got {cfg.tags.action!r}")
    for source, patterns in cfg.tags.patterns.items():
        if not isinstance(patterns, list):
            raise CleaningError(f"tags.patterns.{source} must be a list of regexes")
        for p in patterns:
            try:
                re.compile(p)
            except (re.error, TypeError) as e:
                raise CleaningError(f"tags.patterns.{source}: bad regex {p!r}: {e}") from e
    if cfg.dedup.key not in DEDUP_KEYS:
        raise CleaningError(f"dedup.key must be one of {DEDUP_KEYS}, got {cfg.dedup.key!r}")
    if not isinstance(cfg.dedup.max_hamming, int) or not 0 <= cfg.dedup.max_hamming < 32:
        raise CleaningError(f"dedup.max_hamming must be an integer in [0, 31], got {cfg.dedup.max_hamming!r}")
    _positive_int("report.gallery_samples", cfg.report.gallery_samples, allow_zero=True)
    _positive_int("report.thumbnail_px", cfg.report.thumbnail_px)


def _positive_int(name: str, value, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise CleaningError(f"{name} must be an integer >= {0 if allow_zero else 1}, got {value!r}")


def _number(name: str, value, minimum: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CleaningError(f"{name} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise CleaningError(f"{name} must be >= {minimum}, got {value!r}")
