"""The input/output interface: tokenizer, special tokens, list format, ChatML, grounding."""

from .chatml import DEFAULT_SYSTEM, make_context
from .list_format import from_list_format, image_sources, to_list_format
from .tokenizer import QwenTokenizer

__all__ = ["DEFAULT_SYSTEM", "QwenTokenizer", "from_list_format", "image_sources", "make_context",
           "to_list_format"]
