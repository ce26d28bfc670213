"""The ChatML template of Qwen-VL-Chat: the one definition shared by chat, training, serving.

`make_context` reproduces the official one token for token, including its window rule: whole
earlier turns are dropped, oldest first, once they would push the context past
`max_window_size` (the current query always stays).
"""

from __future__ import annotations

from . import special_tokens as st
from .list_format import as_text

DEFAULT_SYSTEM = "You are a helpful assistant."
MAX_WINDOW_SIZE = 6144


def turn_text(role: str, content: str) -> str:
    return f"{st.IM_START}{role}\n{content}{st.IM_END}"


def encode_turn(tokenizer, role: str, content: str, allowed_special=st.IMAGE_ST) -> list[int]:
    """`<|im_start|>role\ncontent<|im_end|>` as ids, built piece by piece as the official code does.

    Chat prompts recognise only the image tags in `content`; the official fine-tuning script
    encodes contents with every special token allowed (`allowed_special="all"`).
    """
    nl = tokenizer.encode("\n")
    return ([tokenizer.im_start_id] + tokenizer.encode(role, allowed_special) + nl
            + tokenizer.encode(content, allowed_special) + [tokenizer.im_end_id])


def stop_token_ids(tokenizer) -> list[int]:
    """Where a chat answer ends."""
    return [tokenizer.im_end_id, tokenizer.im_start_id, tokenizer.eod_id]


def make_context(tokenizer, query, history=None, system: str = "", max_window_size: int = MAX_WINDOW_SIZE,
                 chat_format: str = "chatml") -> tuple[str, list[int]]:
    """(raw_text, token ids) of a ChatML prompt ending with `<|im_start|>assistant\\n`."""
    if chat_format == "raw":
        text = as_text(query)
        return text, tokenizer.encode(text)
    if chat_format != "chatml":
        raise ValueError(f"unknown chat format {chat_format!r}; use 'chatml' or 'raw'")
    nl = tokenizer.encode("\n")
    start = [tokenizer.im_start_id]

    def turn(role: str, content: str) -> list[int]:
        return encode_turn(tokenizer, role, content)

    system_tokens = turn("system", system)
    raw, context = "", []
    for q, r in reversed(list(history or [])):
        q = as_text(q)
        if r is not None:
            turn_tokens = nl + turn("user", q) + nl + turn("assistant", r)
            turn_raw = f"\n{turn_text('user', q)}\n{turn_text('assistant', r)}"
        else:
            turn_tokens = nl + turn("user", q) + nl
            turn_raw = f"\n{turn_text('user', q)}\n"
        if len(system_tokens) + len(turn_tokens) + len(context) >= max_window_size:
            break
        context, raw = turn_tokens + context, turn_raw + raw
    query = as_text(query)
    tokens = system_tokens + context + nl + turn("user", query) + nl + start + tokenizer.encode("assistant") + nl
    raw = turn_text("system", system) + raw + f"\n{turn_text('user', query)}\n{st.IM_START}assistant\n"
    return raw, tokens
