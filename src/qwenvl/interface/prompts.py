"""Prompt templates of the paper, in one place: evaluation, grounding and training import them."""

CAPTION = "Describe the image in English:"
VQA = "{question} Answer:"
GROUNDING_RAW = "<ref>{expression}</ref><box>"  # base model: continue with the box
GROUNDING_CHAT = "Find <ref>{expression}</ref>"  # chat model: answer with <ref>…</ref><box>…</box>
