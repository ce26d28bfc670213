"""A recipe small enough to run whole in a test: every phase, a few steps each, a model of a few kB."""

from __future__ import annotations

from qwenvl.config import AdapterConfig, LLMConfig, QwenVLConfig, VisionConfig
from qwenvl.recipe.data import Mix
from qwenvl.recipe.loop import Schedule
from qwenvl.recipe.reading import Reading
from qwenvl.recipe.stages import Recipe, Stage


def tiny_config(n_tokens: int, image_start_id: int) -> QwenVLConfig:
    llm = LLMConfig(vocab_size=n_tokens, hidden_size=64, num_hidden_layers=1, num_attention_heads=2, kv_channels=32,
                    intermediate_size=128, seq_length=2048)
    vision = VisionConfig(image_size=56, patch_size=14, width=32, layers=1, heads=2, mlp_ratio=2.0,
                          image_start_id=image_start_id)
    return QwenVLConfig(llm=llm, vision=vision, adapter=AdapterConfig(output_dim=64, n_queries=16),
                        torch_dtype="float32")


SCENES = {"grounding": 1.0, "vqa_count": 1.0, "caption": 1.0}
TEXTS = {"ocr": 1.0, "text_vqa": 1.0}
TINY = Recipe(
    model=tiny_config, n_ranks=700, corpus=(150, 4),
    lm=Schedule(steps=2, lr=1e-3, warmup=1), lm_batch=2,
    clip=Schedule(steps=2, lr=1e-3, warmup=1), clip_batch=4, clip_size=28,
    reading=Reading(Schedule(2, 1e-3, 1), batch_size=2, image_size=56),
    stages=(
        Stage("stage1", ("vit", "adapter"), 28, "pretrain", Mix({"scene": 1.0, "text": 1.0}, {"caption": 1.0},
                                                                 {"ocr": 1.0}), Schedule(2, 1e-3, 1), 2, patch_loss=1.0),
        Stage("stage2", ("vit", "adapter", "llm"), 56, "pretrain",
              Mix({"scene": 1.0, "text": 1.0, "multi": 1.0}, SCENES, TEXTS, (1, 3), 0.2), Schedule(3, 1e-3, 1), 2,
              patch_loss=1.0, lookup=1.0, lookup_head=(0, 1)),
        Stage("stage3", ("adapter", "llm"), 56, "chat", Mix({"scene": 1.0, "text": 1.0, "multi": 1.0}, SCENES, TEXTS,
                                                            (1, 3)), Schedule(2, 1e-3, 1), 2, lookup=1.0,
              lookup_head=(0, 1)),
    ),
)
