"""Prompt templates of the paper, in one place: evaluation, grounding and training import them."""

CAPTION = "Describe the image in English:"
VQA = "{question} Answer:"
GROUNDING_RAW = "<ref>{expression}</ref><box>"  # base model: continue with the box
GROUNDING_CHAT = "Find <ref>{expression}</ref>"  # chat model: answer with <ref>…</ref><box>…</box>

# Multiple choice as the official eval_mm scripts ask it; the answer is the option letter's loss.
OPTION = "{letter}. {text}"  # options are joined with "\n"
OPTION_LETTERS = "ABCDE"
CHOICE_WITH_CONTEXT = "Context: {context}\nQuestion: {question}\nOptions: {options}\nAnswer:"  # ScienceQA, MMBench
CHOICE_NO_CONTEXT = "\nQuestion: {question}\nOptions: {options}\nAnswer:"  # SEED-Bench (right after the image)
NO_CONTEXT = "N/A"
