"""The official list format: `[{"image": ...}, {"text": ...}, {"box": ...}]` ⇄ tagged text."""

from __future__ import annotations

import base64
import io
import re
import unicodedata
from pathlib import Path

from . import special_tokens as st

_TAGS = ("img", "ref", "box", "quad")
_ELEMENT = re.compile(r"<(img|ref|box|quad)>(.*?)</\1>", re.DOTALL)
_KEYS = {"img": "image", "ref": "ref", "box": "box", "quad": "quad"}
IMG_SPAN = re.compile(re.escape(st.IMG_START) + "(.*?)" + re.escape(st.IMG_END), re.DOTALL)
# Accepts both the official "Picture 1:<img>" and the paper's "Picture 1: <img>".
PICTURE_LABEL = re.compile(r"Picture (\d+): ?(?=<img>)")


def source_text(source) -> str:
    """An image source as text: paths and URLs as they are; bytes and PIL images as a data URL.

    Sources are never stored inside token ids, so a long data URL costs nothing there.
    """
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return "data:application/octet-stream;base64," + base64.b64encode(bytes(source)).decode()
    if hasattr(source, "save") and hasattr(source, "mode"):  # a PIL image
        buf = io.BytesIO()
        source.save(buf, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    raise TypeError(f"unsupported image source type {type(source).__name__}")


def from_list_format(list_format: list[dict]) -> str:
    """Official semantics: images numbered `Picture N:` in order, boxes as `<box>(x1,y1),(x2,y2)</box>`."""
    text, n_images = "", 0
    for ele in list_format:
        if "image" in ele:
            n_images += 1
            text += f"Picture {n_images}:{st.IMG_START}{source_text(ele['image'])}{st.IMG_END}\n"
        elif "text" in ele:
            text += ele["text"]
        elif "box" in ele:
            if "ref" in ele:
                text += st.REF_START + ele["ref"] + st.REF_END
            for box in ele["box"]:
                text += st.BOX_START + "(%d,%d),(%d,%d)" % tuple(box[:4]) + st.BOX_END
        else:
            raise ValueError(f"unsupported list-format element: {ele!r}")
    return text


def to_list_format(text: str) -> list[dict]:
    """Tagged text → elements in order; the text between tags stays as `{"text": ...}`."""
    text = unicodedata.normalize("NFC", text)
    out, pos = [], 0
    for m in _ELEMENT.finditer(text):
        if m.start() > pos:
            out.append({"text": text[pos:m.start()]})
        out.append({_KEYS[m.group(1)]: m.group(2)})
        pos = m.end()
    rest = text[pos:]
    unclosed = [t for t in _TAGS if f"<{t}>" in rest]
    if unclosed:
        raise ValueError(f"unclosed <{unclosed[0]}> tag in text")
    if rest:
        out.append({"text": rest})
    return out


def image_sources(text: str) -> list[str]:
    """The image sources of a tagged text, in `<img>` order (what the model must be given)."""
    return IMG_SPAN.findall(text)


def as_text(query: str | list[dict]) -> str:
    """Queries may be given as text or in the list format."""
    return query if isinstance(query, str) else from_list_format(query)
