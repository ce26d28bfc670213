"""A decoded request body → the engine's work: ChatML prompt ids, loaded images, one config per choice.

Runs in a worker thread (tokenizing and image decoding take CPU time), and raises APIError for
everything a client can get wrong, before the engine sees the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..data.image_sources import ImageError
from ..generation import GenerationConfig
from ..interface.chatml import make_context, stop_token_ids
from ..interface.list_format import image_sources
from . import media
from .errors import APIError, bad_request
from .messages import to_conversation
from .protocol import ChatRequest, model_not_found, parse_chat_request
from .responses import ImageSize

MiB = 1 << 20


@dataclass(frozen=True)
class ServeSettings:
    model_name: str
    context_window: int  # prompt + completion tokens, at most
    media: media.MediaPolicy
    max_images: int = 8  # per conversation
    max_n: int = 8
    max_request_bytes: int = 64 * MiB


@dataclass(frozen=True)
class Prepared:
    request: ChatRequest
    prompt: list[int]
    images: list[media.LoadedImage]
    configs: list[GenerationConfig]
    latest_image: ImageSize | None  # what grounding boxes refer to


def prepare(body, tokenizer, defaults: GenerationConfig, settings: ServeSettings,
            cached: Callable[[str], bool] = lambda key: False) -> Prepared:
    """`cached(key)`: whether the engine holds an image's features (so it need not be decoded)."""
    request = parse_chat_request(body, settings.max_n)
    if request.model != settings.model_name:
        raise model_not_found(request.model)
    conversation = to_conversation(request.messages, settings.max_images)
    raw, prompt = make_context(tokenizer, conversation.query, conversation.history, conversation.system,
                               min(defaults.max_window_size, settings.context_window))
    configs = generation_configs(request, defaults, len(prompt), settings.context_window, tokenizer)
    # make_context drops whole early turns to fit its window, so the prompt holds the last images
    kept = len(image_sources(raw))
    first = len(conversation.images) - kept
    images = [_load(part, settings.media, cached) for part in conversation.images[first:]]
    latest = ImageSize(len(conversation.images) - 1, images[-1].width, images[-1].height) if images else None
    return Prepared(request, prompt, images, configs, latest)


def generation_configs(request: ChatRequest, defaults: GenerationConfig, prompt_tokens: int, window: int,
                       tokenizer) -> list[GenerationConfig]:
    """The checkpoint's defaults with the request's settings; temperature 0 means greedy."""
    room = window - prompt_tokens
    if room < 1:
        raise APIError(400, f"the prompt takes {prompt_tokens} tokens, but the context window is {window} "
                       "tokens; shorten the messages", "context_length_exceeded", "messages")
    if request.max_tokens is not None and request.max_tokens > room:
        raise APIError(400, f"the prompt takes {prompt_tokens} tokens and max_tokens asks for {request.max_tokens}, "
                       f"more than the context window of {window} tokens", "context_length_exceeded", "max_tokens")
    sampling = {} if request.temperature is None else (
        {"do_sample": False} if request.temperature == 0 else {"do_sample": True, "temperature": request.temperature})
    base = defaults.updated(
        **sampling, top_p=request.top_p, top_k=request.top_k, repetition_penalty=request.repetition_penalty,
        max_new_tokens=request.max_tokens or min(defaults.max_new_tokens, room), ignore_eos=request.ignore_eos,
        stop_strings=request.stop or None,
        stop_token_ids=tuple(set(defaults.stop_token_ids) | set(stop_token_ids(tokenizer))))
    seeds = [None] * request.n if request.seed is None else [request.seed + i for i in range(request.n)]
    return [base.updated(seed=seed) for seed in seeds]


def _load(part, policy: media.MediaPolicy, cached) -> media.LoadedImage:
    try:
        return media.load(part.url, policy, cached)
    except ImageError as e:
        raise bad_request(f"{part.param}: {e}", f"{part.param}.url", "invalid_image") from None
