"""Config loading: files, overrides, and errors that name the offending key."""

from __future__ import annotations

import json

import pytest

from qwenvl.cleaning.config import CleanConfig, fingerprint, load_config
from qwenvl.cleaning.errors import CleaningError


def test_defaults_without_file():
    cfg = load_config(None)
    assert cfg == CleanConfig()
    assert cfg.image.min_side == 64 and cfg.image.max_aspect_ratio == 3.0 and cfg.dedup.key == "pair"


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("image:\n  min_side: 128\nclip:\n  per_source: {laion: 0.3}\n"
                    "text:\n  irregular: [urls, emails]\n")
    cfg = load_config(path, ["dedup.key=image", "clip.threshold=null", "tags.action=strip"])
    assert cfg.image.min_side == 128
    assert cfg.clip.per_source == {"laion": 0.3} and cfg.clip.threshold is None
    assert cfg.text.irregular == ("urls", "emails")
    assert cfg.dedup.key == "image" and cfg.tags.action == "strip"


def test_json_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"report": {"gallery_samples": 9}}))
    assert load_config(path).report.gallery_samples == 9


@pytest.mark.parametrize("overrides, message", [
    (["image.min_sid=3"], "image.min_sid"),
    (["imag.min_side=3"], "imag"),
    (["image.min_side=0"], "image.min_side"),
    (["image.min_side=abc"], "image.min_side"),
    (["image.max_aspect_ratio=0.5"], "image.max_aspect_ratio"),
    (["dedup.key=caption"], "dedup.key"),
    (["tags.action=remove"], "tags.action"),
    (['tags.patterns={"*": ["(unclosed"]}'], "bad regex"),
    (["clip.scorer=not-a-spec"], "clip.scorer"),
    (["text.irregular=[\"smileys\"]"], "text.irregular"),
    (["text.min_chars=50", "text.max_chars=10"], "text.min_chars"),
    (["min_side=3"], "section.key=value"),
])
def test_bad_values_are_named(overrides, message):
    with pytest.raises(CleaningError, match=message.replace("(", r"\(").replace("*", r"\*")):
        load_config(None, overrides)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(CleaningError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(CleaningError, match="not valid JSON"):
        load_config(bad)


def test_fingerprint_tracks_every_threshold():
    assert fingerprint(load_config(None)) == fingerprint(CleanConfig())
    assert fingerprint(load_config(None, ["text.max_words=100"])) != fingerprint(CleanConfig())
