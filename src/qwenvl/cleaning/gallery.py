"""An HTML page with a few dropped pairs per rule, to eyeball whether each threshold is sane.

Thumbnails are embedded as small base64 JPEGs so the page is one self-contained file; every
caption is HTML-escaped, since captions are exactly the untrusted web text being cleaned.
"""

from __future__ import annotations

import html

from PIL import Image

from .config import CleanConfig
from .image import BadImage, decode_bounded, thumbnail_b64
from .rules import RULE_ORDER, RULES
from .sample import Sample

Gallery = dict[str, list[dict]]


def offer(gallery: Gallery, cfg: CleanConfig, rule: str, detail: str, sample: Sample, shard: str,
          cleaned: str | None, image: Image.Image | None) -> None:
    """Keep the first `report.gallery_samples` dropped pairs per rule."""
    picked = gallery.setdefault(rule, [])
    if len(picked) >= cfg.report.gallery_samples:
        return
    if image is None and sample.image is not None and rule != "image_decode":
        try:
            image = decode_bounded(sample.image, cfg.image.max_bytes, cfg.image.max_pixels)
        except BadImage:
            image = None
    picked.append({"shard": shard, "key": sample.key, "detail": detail,
                   "caption": (sample.caption or "")[:500], "cleaned": cleaned,
                   "thumb": thumbnail_b64(image, cfg.report.thumbnail_px) if image else None})


def merge(galleries: list[Gallery], limit: int) -> Gallery:
    """First `limit` samples per rule in corpus order (galleries are given in shard order)."""
    merged: Gallery = {}
    for gallery in galleries:
        for rule, items in gallery.items():
            merged.setdefault(rule, [])
            merged[rule].extend(items[: limit - len(merged[rule])])
    return merged


def render(gallery: Gallery, dropped: dict[str, int]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Dropped pairs by rule</title>",
             "<style>body{font-family:sans-serif;margin:2em}.s{display:inline-block;vertical-align:top;"
             "width:220px;margin:6px;padding:6px;border:1px solid #ccc;font-size:12px}"
             ".s img{max-width:200px;max-height:200px}.d{color:#a00}.k{color:#666}</style></head><body>",
             "<h1>Dropped pairs by rule</h1>"]
    for rule in RULE_ORDER:
        items = gallery.get(rule, [])
        if not items:
            continue
        parts.append(f"<h2 id='{rule}'>{rule}: {dropped.get(rule, 0)} dropped</h2>"
                     f"<p>{html.escape(RULES[rule])}</p>")
        for item in items:
            thumb = (f"<img alt='thumbnail' src='data:image/jpeg;base64,{item['thumb']}'>"
                     if item["thumb"] else "<div class='k'>(no image)</div>")
            cleaned = ("" if item["cleaned"] in (None, item["caption"])
                       else f"<div>cleaned: {html.escape(item['cleaned'])}</div>")
            parts.append(f"<div class='s'>{thumb}<div>{html.escape(item['caption'])}</div>{cleaned}"
                         f"<div class='d'>{html.escape(item['detail'])}</div>"
                         f"<div class='k'>{html.escape(item['shard'])} / {html.escape(item['key'])}</div></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
