"""The Qwen-VL network in pure PyTorch, with the official module and parameter names.

vision.py (ViT) → adapter.py (position-aware resampler) → language.py (Qwen decoder blocks)
joined in qwenvl.py. Nothing here reads files or decodes images: pixels arrive as tensors.
"""

from .qwenvl import QWenLMHeadModel, QWenModel

__all__ = ["QWenLMHeadModel", "QWenModel"]
