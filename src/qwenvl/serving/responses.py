"""Response bodies in the OpenAI shapes, plus the grounding extension.

Each choice carries `grounding`: the `<ref>`/`<box>`/`<quad>` items of its text, parsed by
`interface.grounding`, with grid (0-1000), normalized (0-1) and, when the conversation has an
image, pixel coordinates on the latest image (the one Qwen-VL's boxes refer to).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from ..interface.grounding import Box, grounding_to_dict, parse_grounding


@dataclass(frozen=True)
class ImageSize:
    index: int  # position of the image among the request's images
    width: int
    height: int


@dataclass(frozen=True)
class Envelope:
    """What every body of one response shares."""

    id: str
    model: str
    created: int

    @classmethod
    def new(cls, model: str) -> "Envelope":
        return cls(f"chatcmpl-{uuid.uuid4().hex}", model, int(time.time()))


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def grounding(text: str, image: ImageSize | None) -> dict:
    items = []
    for item in parse_grounding(text):
        if image is not None:
            d = grounding_to_dict(item, image.width, image.height)
        elif isinstance(item, Box):
            d = {"type": "box", "ref": item.ref, "box": [item.x1, item.y1, item.x2, item.y2]}
        else:
            d = {"type": "quad", "ref": item.ref, "quad": [list(p) for p in item.points]}
        if isinstance(item, Box):
            d["normalized_box"] = list(item.normalized())
        else:
            d["normalized_quad"] = [[x / 1000, y / 1000] for x, y in item.points]
        items.append(d)
    size = None if image is None else {"index": image.index, "width": image.width, "height": image.height}
    return {"image": size, "items": items}


def choice(index: int, text: str, reason: str, image: ImageSize | None) -> dict:
    return {"index": index, "message": {"role": "assistant", "content": text}, "finish_reason": reason,
            "grounding": grounding(text, image)}


def completion(env: Envelope, choices: list[dict], usage_: dict) -> dict:
    return {"id": env.id, "object": "chat.completion", "created": env.created, "model": env.model,
            "choices": choices, "usage": usage_}


def chunk(env: Envelope, choices: list[dict], usage_: dict | None = None) -> dict:
    body = {"id": env.id, "object": "chat.completion.chunk", "created": env.created, "model": env.model,
            "choices": choices}
    if usage_ is not None:
        body["usage"] = usage_
    return body


def delta_choice(index: int, delta: dict, reason: str | None = None, grounding_: dict | None = None) -> dict:
    out = {"index": index, "delta": delta, "finish_reason": reason}
    if grounding_ is not None:
        out["grounding"] = grounding_
    return out


def models(name: str, created: int) -> dict:
    return {"object": "list", "data": [model_card(name, created)]}


def model_card(name: str, created: int) -> dict:
    return {"id": name, "object": "model", "created": created, "owned_by": "qwenvl"}
