"""OpenAI chat messages → the (query, history, system) that `interface.chatml.make_context` takes.

System (and "developer") messages join into the system prompt. Consecutive user or assistant
messages merge into one turn; each user turn is written in the official list format, so its
images become `Picture N:<img>…</img>` exactly as `tokenizer.from_list_format` writes them. The
text inside `<img>` is a label chosen here, never the client's URL: sources travel beside the
ids, and a URL holding `</img>` must not be able to forge tokens. For the same reason, text that
contains image tags is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..interface import special_tokens as st
from ..interface.chatml import DEFAULT_SYSTEM
from ..interface.list_format import from_list_format
from .errors import bad_request

_SYSTEM_ROLES = ("system", "developer")
_IMAGE_TAGS = (st.IMG_START, st.IMG_END, st.IMG_PAD)


@dataclass(frozen=True)
class ImagePart:
    url: str
    param: str  # where the request holds it, for error messages


@dataclass(frozen=True)
class Conversation:
    system: str
    history: list[tuple[str, str]]
    query: str
    images: list[ImagePart]  # every image of the conversation, in prompt order


def to_conversation(messages: list, max_images: int) -> Conversation:
    system, turns, images = [], [], []  # turns: [role, list-format elements]
    for i, message in enumerate(messages):
        role = _role(message, i)
        elements = _elements(message.get("content"), role, f"messages[{i}]", images)
        if role in _SYSTEM_ROLES:
            system.append("".join(e["text"] for e in elements))
        elif turns and turns[-1][0] == role:
            turns[-1][1].extend(elements)
        else:
            turns.append([role, elements])
    if len(images) > max_images:
        raise bad_request(f"too many images: {len(images)} in the conversation, at most {max_images} allowed",
                          "messages", "too_many_images")
    if not turns or turns[-1][0] != "user":
        raise bad_request("the last message (after any system messages) must be from the user", "messages")
    texts = [(role, from_list_format(elements)) for role, elements in turns]
    history, pending = [], ""
    for role, text in texts[:-1]:  # roles alternate, and an assistant turn closes each pair
        if role == "user":
            pending = text
        else:
            history.append((pending, text))
            pending = ""
    system_text = "\n".join(system) if system else DEFAULT_SYSTEM
    return Conversation(system_text, history, texts[-1][1], images)


def _role(message, i: int) -> str:
    if not isinstance(message, dict):
        raise bad_request(f"messages[{i}] must be an object with 'role' and 'content'", f"messages[{i}]")
    role = message.get("role")
    if role not in ("user", "assistant", *_SYSTEM_ROLES):
        raise bad_request(f"messages[{i}].role must be 'system', 'user' or 'assistant', got {role!r}",
                          f"messages[{i}].role")
    return role


def _elements(content, role: str, where: str, images: list[ImagePart]) -> list[dict]:
    """List-format elements of one message's content (a string or an array of parts)."""
    if content is None and role == "assistant":
        return []
    if isinstance(content, str):
        parts = [{"type": "text", "text": content}]
    elif isinstance(content, list):
        parts = content
    else:
        raise bad_request(f"{where}.content must be a string or an array of content parts", f"{where}.content")
    elements = []
    for j, part in enumerate(parts):
        param = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            elements.append({"text": _text(part.get("text"), param)})
        elif kind == "image_url":
            if role != "user":
                raise bad_request(f"{param}: images are allowed in user messages only", param)
            images.append(ImagePart(_image_url(part.get("image_url"), param), f"{param}.image_url"))
            elements.append({"image": f"image-{len(images)}"})
        else:
            raise bad_request(f"{param}.type must be 'text' or 'image_url', got {kind!r}", f"{param}.type")
    if role == "user" and not any(e.get("text", "").strip() or "image" in e for e in elements):
        raise bad_request(f"{where} is empty: a user message needs text or an image", f"{where}.content",
                          "empty_message")
    return elements


def _text(text, param: str) -> str:
    if not isinstance(text, str):
        raise bad_request(f"{param}.text must be a string", f"{param}.text")
    for tag in _IMAGE_TAGS:
        if tag in text:
            raise bad_request(f"{param}.text contains {tag}: send images as image_url parts", f"{param}.text")
    return text


def _image_url(value, param: str) -> str:
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str) or not url:
        raise bad_request(f"{param}.image_url.url must be a non-empty string", f"{param}.image_url.url")
    return url
