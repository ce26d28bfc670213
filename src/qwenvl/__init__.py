"""qwenvl: Qwen-VL in pure PyTorch — load official checkpoints, chat, ground, train, evaluate, serve.

The package imports fast; heavy parts load when used.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["GenerationConfig", "QwenTokenizer", "QwenVL", "QwenVLConfig"]


def __getattr__(name: str):
    if name == "QwenVL":
        from .api import QwenVL
        return QwenVL
    if name == "QwenTokenizer":
        from .interface.tokenizer import QwenTokenizer
        return QwenTokenizer
    if name == "QwenVLConfig":
        from .config import QwenVLConfig
        return QwenVLConfig
    if name == "GenerationConfig":
        from .generation import GenerationConfig
        return GenerationConfig
    raise AttributeError(f"module 'qwenvl' has no attribute {name!r}")
