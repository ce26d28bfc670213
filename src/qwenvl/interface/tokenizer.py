"""Qwen's byte-level BPE (tiktoken format) with the Qwen-VL image span.

Token ids match the official tokenizer: an image is `<img>`, the UTF-8 bytes of its source
as byte tokens, `<imgpad>` up to 256 positions, `</img>`. The model never reads those bytes
(image sources travel beside the ids), so a source longer than the span — a URL, a data URL —
is simply not copied into the ids instead of being refused. The span is one position per
adapter query: 256 in every released model, `visual.n_queries` where a config says otherwise.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from pathlib import Path
from typing import Collection, Iterable

import tiktoken

from . import special_tokens as st
from .list_format import IMG_SPAN, from_list_format, to_list_format

PAT_STR = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
           r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
MAX_RANKS_FILE_BYTES = 64 << 20


def load_tiktoken_bpe(path: Path) -> dict[bytes, int]:
    """Parse a `.tiktoken` file (`base64-token rank` per line)."""
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file {path} not found")
    if path.stat().st_size > MAX_RANKS_FILE_BYTES:
        raise ValueError(f"tokenizer file {path} is larger than {MAX_RANKS_FILE_BYTES} bytes")
    ranks = {}
    for n, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError:
            raise ValueError(f"{path}:{n} is not a 'base64-token rank' line") from None
    return ranks


def image_tokens_of(config: Path) -> int:
    """The image span a checkpoint's `config.json` asks for: its `visual.n_queries`, else 256."""
    try:
        visual = json.loads(config.read_text(encoding="utf-8")).get("visual", {})
        return int(visual.get("n_queries", st.IMG_TOKEN_SPAN))
    except (ValueError, AttributeError, TypeError) as e:
        raise ValueError(f"{config}: cannot read visual.n_queries: {e}") from None


class QwenTokenizer:
    def __init__(self, vocab_file: str | Path, errors: str = "replace", image_tokens: int = st.IMG_TOKEN_SPAN):
        if image_tokens < 1:
            raise ValueError(f"image_tokens must be at least 1, got {image_tokens}")
        self.vocab_file = Path(vocab_file)
        self.errors = errors
        self.image_tokens = image_tokens  # positions between <img> and </img>
        self.mergeable_ranks = load_tiktoken_bpe(self.vocab_file)
        n = len(self.mergeable_ranks)
        self.special_tokens = {tok: n + i for i, tok in enumerate(st.SPECIAL_TOKENS)}
        self.tokenizer = tiktoken.Encoding("Qwen", pat_str=PAT_STR, mergeable_ranks=self.mergeable_ranks,
                                           special_tokens=self.special_tokens)
        self.IMAGE_ST = st.IMAGE_ST
        ids = self.special_tokens
        self.eod_id, self.im_start_id, self.im_end_id = ids[st.ENDOFTEXT], ids[st.IM_START], ids[st.IM_END]
        self.img_start_id, self.img_end_id, self.img_pad_id = ids[st.IMG_START], ids[st.IMG_END], ids[st.IMG_PAD]
        self.ref_start_id, self.ref_end_id = ids[st.REF_START], ids[st.REF_END]
        self.box_start_id, self.box_end_id = ids[st.BOX_START], ids[st.BOX_END]
        self.quad_start_id, self.quad_end_id = ids[st.QUAD_START], ids[st.QUAD_END]

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs) -> "QwenTokenizer":
        """A checkpoint directory holding `qwen.tiktoken` (its `config.json`, when there is one,
        sets the image span), or the file itself."""
        path = Path(path)
        if not path.is_dir():
            return cls(path, **kwargs)
        if "image_tokens" not in kwargs and (path / "config.json").is_file():
            kwargs["image_tokens"] = image_tokens_of(path / "config.json")
        return cls(path / "qwen.tiktoken", **kwargs)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.n_vocab

    def __len__(self) -> int:
        return self.tokenizer.n_vocab

    # ---- encoding -------------------------------------------------------------------------

    def encode(self, text: str, allowed_special: Collection[str] | str = "all") -> list[int]:
        """Text → ids; `allowed_special` lists the special tokens recognised (others are plain text)."""
        text = unicodedata.normalize("NFC", text)
        allowed = set(self.special_tokens) if allowed_special == "all" else set(allowed_special)
        if st.IMG_START not in allowed:
            return self._bpe(text, allowed)
        ids, pos = [], 0
        for m in IMG_SPAN.finditer(text):
            ids += self._bpe(text[pos:m.start()], allowed)
            ids += self.image_span(m.group(1))
            pos = m.end()
        tail = self._bpe(text[pos:], allowed)
        if self.img_start_id in tail:
            raise ValueError(f"unclosed {st.IMG_START} tag in text")
        return ids + tail

    def __call__(self, text: str | list[str], return_tensors: str | None = None, **kwargs) -> dict:
        """HF-style call for drop-in code: `{"input_ids": ...}` (a list, or a tensor with "pt")."""
        texts = [text] if isinstance(text, str) else list(text)
        ids = [self.encode(t, **kwargs) for t in texts]
        if return_tensors == "pt":
            import torch
            if len({len(i) for i in ids}) > 1:
                raise ValueError("texts of different token lengths cannot form one tensor; encode them one by one")
            return {"input_ids": torch.tensor(ids)}
        return {"input_ids": ids[0] if isinstance(text, str) else ids}

    def _bpe(self, text: str, allowed: set[str]) -> list[int]:
        return self.tokenizer.encode(text, allowed_special=allowed, disallowed_special=()) if text else []

    def image_span(self, source: str = "") -> list[int]:
        """`<img>` + source bytes (when they fit, as the official ids) + `<imgpad>`… + `</img>`."""
        raw = list(source.encode("utf-8"))
        if len(raw) > self.image_tokens:  # the official code refuses these; the model never reads them
            raw = []
        return [self.img_start_id] + raw + [self.img_pad_id] * (self.image_tokens - len(raw)) + [self.img_end_id]

    # ---- decoding -------------------------------------------------------------------------

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False, errors: str | None = None) -> str:
        ids = [int(i) for i in ids]
        out, pos = [], 0
        for start in [k for k, t in enumerate(ids) if t == self.img_start_id]:
            if start < pos or self.img_end_id not in ids[start:]:
                continue
            end = ids.index(self.img_end_id, start)
            out.append(self._plain(ids[pos:start], skip_special_tokens, errors))
            out.append(self._image_text(ids[start + 1:end], skip_special_tokens))
            pos = end + 1
        out.append(self._plain(ids[pos:], skip_special_tokens, errors))
        return "".join(out)

    def _plain(self, ids: list[int], skip_special_tokens: bool, errors: str | None) -> str:
        if skip_special_tokens:
            ids = [t for t in ids if t < self.eod_id]
        return self.tokenizer.decode(ids, errors=errors or self.errors)

    def _image_text(self, inner: list[int], skip_special_tokens: bool) -> str:
        raw = inner[:inner.index(self.img_pad_id)] if self.img_pad_id in inner else inner
        source = bytes(t for t in raw if t < 256).decode("utf-8", errors="replace")
        return source if skip_special_tokens else f"{st.IMG_START}{source}{st.IMG_END}"

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token stands for (special tokens: their text) — for streaming."""
        return self.tokenizer.decode_single_token_bytes(token_id)

    # ---- the official interface helpers ---------------------------------------------------

    def from_list_format(self, list_format: list[dict]) -> str:
        return from_list_format(list_format)

    def to_list_format(self, text: str) -> list[dict]:
        return to_list_format(text)

    def draw_bbox_on_latest_picture(self, response: str, history: list | None = None, **limits):
        """The official helper: boxes of `response` drawn on the latest picture of the dialogue."""
        from .draw import draw_on_latest_picture
        return draw_on_latest_picture(response, history, **limits)
