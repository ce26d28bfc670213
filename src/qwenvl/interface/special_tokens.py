"""Qwen's special tokens, in the official order after the 151,643 BPE ranks.

The one definition of the tags of the interface (`<img>`, `<ref>`, `<box>`, `<quad>`) and of
the image span: every other module imports these names instead of writing the strings.
"""

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
EXTRAS = tuple(f"<|extra_{i}|>" for i in range(205))

REF_START, REF_END = "<ref>", "</ref>"
BOX_START, BOX_END = "<box>", "</box>"
QUAD_START, QUAD_END = "<quad>", "</quad>"
IMG_START, IMG_END, IMG_PAD = "<img>", "</img>", "<imgpad>"

IMAGE_ST = (REF_START, REF_END, BOX_START, BOX_END, QUAD_START, QUAD_END, IMG_START, IMG_END, IMG_PAD)
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END) + EXTRAS + IMAGE_ST

IMG_TOKEN_SPAN = 256  # positions between <img> and </img>: one per adapter query
