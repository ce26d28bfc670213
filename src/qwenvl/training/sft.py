"""Supervised fine-tuning samples: ChatML dialogues with the official fine-tuning label mask.

The official `finetune.py` supervises only what the chat model must produce: each turn's
`<|im_start|>`, `<|im_end|>` and the newline after it, and the assistant's answer. System and
user text and the role names are masked with -100. Conversations come in the official
fine-tuning JSON (`from: user|assistant`, images as `Picture N: <img>path</img>`) or in the
LLaVA JSON (`from: human|gpt`, an `<image>` placeholder and a separate `image` field).
"""

from __future__ import annotations

import re

from ..interface import special_tokens as st
from ..interface.chatml import DEFAULT_SYSTEM, encode_turn
from ..interface.list_format import image_sources
from .samples import IGNORE, Sample

ROLES = {"user": "user", "assistant": "assistant", "human": "user", "gpt": "assistant"}
# A placeholder goes with one newline next to it, the one after it when there is one.
LLAVA_IMAGE = re.compile(r"<image>\n|\n<image>|<image>")


def sft_sample(tokenizer, conversation: list[dict], system: str = DEFAULT_SYSTEM,
               max_len: int | None = None) -> Sample:
    """ids and labels of a dialogue, exactly as the official script builds them.

    With `max_len` the result is cut or padded to that length with `<|endoftext|>` (labels -100),
    the official padded form; without it the sample keeps its own length (for packing).
    """
    turns = [(ROLES.get(m.get("from")), m.get("value")) for m in conversation]
    if any(role is None or not isinstance(text, str) for role, text in turns):
        raise ValueError("each conversation turn needs 'from' (user/assistant/human/gpt) and a string 'value'")
    if turns and turns[0][0] != "user":
        turns = turns[1:]  # the official script drops a leading non-user turn
    if not turns:
        raise ValueError("conversation has no turns")
    nl = tokenizer.encode("\n")
    ids, labels = [], []
    for role, text in [("system", system)] + turns:
        turn = encode_turn(tokenizer, role, text, "all") + nl
        ids += turn
        labels += _turn_labels(turn, role, len(tokenizer.encode(role)), len(nl))
    images = [src for _, text in turns for src in image_sources(text)]
    if max_len is not None:
        ids = (ids + [tokenizer.eod_id] * max_len)[:max_len]
        labels = (labels + [IGNORE] * max_len)[:max_len]
    return Sample(ids, labels, images)


def _turn_labels(turn: list[int], role: str, n_role: int, n_nl: int) -> list[int]:
    """`<|im_start|>` + masked role and content (answer kept for the assistant) + `<|im_end|>\\n`."""
    tail = turn[-1 - n_nl:]
    if role == "assistant":
        head = 1 + n_role + n_nl
        return turn[:1] + [IGNORE] * (head - 1) + turn[head:-1 - n_nl] + tail
    return turn[:1] + [IGNORE] * (len(turn) - 2 - n_nl) + tail


def llava_conversation(record: dict) -> list[dict]:
    """A LLaVA record's turns in the official format: `<image>` becomes `Picture N: <img>path</img>\\n`.

    The placeholders' images (the `image` field: one path or a list) are numbered in order of
    appearance and put at the start of the turn that held them, as the official data does.
    """
    images = record.get("image") or []
    images = [images] if isinstance(images, str) else list(images)
    out, n = [], 0
    for turn in record["conversations"]:
        value = turn["value"]
        k = len(LLAVA_IMAGE.findall(value))
        if n + k > len(images):
            raise ValueError(f"LLaVA record has more <image> placeholders than images ({len(images)})")
        pictures = "".join(f"Picture {n + i + 1}: {st.IMG_START}{images[n + i]}{st.IMG_END}\n" for i in range(k))
        out.append({"from": ROLES.get(turn["from"], turn["from"]), "value": pictures + LLAVA_IMAGE.sub("", value)})
        n += k
    if n != len(images):
        raise ValueError(f"LLaVA record names {len(images)} image(s) but has {n} <image> placeholder(s)")
    return out
