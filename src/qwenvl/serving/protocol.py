"""The OpenAI chat-completions request: a decoded JSON body checked field by field.

Every refusal names the field (`param`) and what was wrong with it, so a client sees why. Unknown
fields are ignored, as OpenAI-compatible servers commonly do; known features this server lacks
(tools, logprobs, ...) are refused rather than silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import APIError, bad_request

MAX_STOP = 4
MAX_STOP_CHARS = 256

# Features a request may name only with their "off" value.
_UNSUPPORTED = {
    "tools": lambda v: not v,
    "functions": lambda v: not v,
    "tool_choice": lambda v: v in (None, "none"),
    "logprobs": lambda v: not v,
    "top_logprobs": lambda v: v in (None, 0),
    "logit_bias": lambda v: not v,
    "presence_penalty": lambda v: v in (None, 0),
    "frequency_penalty": lambda v: v in (None, 0),
    "response_format": lambda v: v is None or (isinstance(v, dict) and v.get("type") == "text"),
}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list
    stream: bool = False
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    repetition_penalty: float | None = None
    ignore_eos: bool = False  # extension (as in vLLM): decode max_tokens whatever the model says


def parse_chat_request(body, max_n: int) -> ChatRequest:
    """A checked request from the decoded JSON body; APIError (400) names the first bad field."""
    if not isinstance(body, dict):
        raise bad_request(f"the request body must be a JSON object, got {_type(body)}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required and must be a non-empty string", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array of messages", "messages")
    for name, is_off in _UNSUPPORTED.items():
        if name in body and not is_off(body[name]):
            raise bad_request(f"'{name}' is not supported by this server", name, "unsupported_parameter")
    return ChatRequest(
        model=model,
        messages=messages,
        stream=_bool(body, "stream", False),
        n=_int(body, "n", 1, max_n) or 1,
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0, low_open=True),
        top_k=_int(body, "top_k", 0, None),
        max_tokens=_max_tokens(body),
        stop=_stop(body.get("stop")),
        seed=_int(body, "seed", -(2 ** 63), 2 ** 63 - 1),
        repetition_penalty=_number(body, "repetition_penalty", 0.0, None, low_open=True),
        ignore_eos=_bool(body, "ignore_eos", False),
    )


def _type(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _bool(body: dict, name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be a boolean, got {_type(value)}", name)
    return value


def _int(body: dict, name: str, low: int, high: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer, got {_type(value)}", name)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_request(f"'{name}' must be {bounds}, got {value}", name)
    return value


def _number(body: dict, name: str, low: float, high: float | None, low_open: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_request(f"'{name}' must be a finite number, got {_type(value)}", name)
    if value < low or (low_open and value == low) or (high is not None and value > high):
        left = "(" if low_open else "["
        right = f"{high}]" if high is not None else "inf)"
        raise bad_request(f"'{name}' must be in {left}{low}, {right}, got {value}", name)
    return float(value)


def _max_tokens(body: dict) -> int | None:
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    return _int(body, name, 1, None)


def _stop(value) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise bad_request("'stop' must be a string or an array of strings", "stop")
    if len(stops) > MAX_STOP:
        raise bad_request(f"'stop' may hold at most {MAX_STOP} strings, got {len(stops)}", "stop")
    if any(not s or len(s) > MAX_STOP_CHARS for s in stops):
        raise bad_request(f"each 'stop' string must have 1 to {MAX_STOP_CHARS} characters", "stop")
    return tuple(stops)


def model_not_found(name: str) -> APIError:
    return APIError(404, f"The model '{name}' does not exist", "model_not_found", "model")
