"""Decoding: one loop (`decode.py`) shared by generate, chat, streaming and serving."""

from .config import GenerationConfig
from .decode import generate_tokens
from .streaming import TextStream

__all__ = ["GenerationConfig", "TextStream", "generate_tokens"]
