"""Training configs: the shipped stage files carry the paper's settings; files, bases and overrides."""

from __future__ import annotations

import pytest
from training_helpers import CONFIGS

from qwenvl.training.config import load_config
from qwenvl.training.formats import FORMATS


def test_the_three_stages_of_the_paper():
    s1, s2, s3 = (load_config(CONFIGS / "qwen-vl-7b" / f) for f in
                  ("stage1_pretrain.yaml", "stage2_multitask.yaml", "stage3_sft.yaml"))
    assert (s1.trainable, s2.trainable, s3.trainable) == (["vit", "adapter"], ["vit", "adapter", "llm"],
                                                           ["adapter", "llm"])
    assert (s1.model.image_size, s2.model.image_size, s3.model.image_size) == (224, 448, 448)
    for s in (s1, s2, s3):
        assert s.optim.betas == (0.9, 0.98) and s.optim.eps == 1e-6 and s.optim.weight_decay == 0.05
        assert s.optim.grad_clip == 1.0 and s.run.bf16 and s.run.activation_checkpointing
    assert (s1.optim.lr, s1.optim.warmup_steps, s1.optim.steps, s1.optim.vit_layer_decay) == (2e-4, 500, 50000, 0.95)
    assert s1.data.batch_size * 512 == 30720
    assert {d.task for d in s2.data.datasets} == {"caption", "vqa", "caption_grounding", "ref_grounding",
                                                  "grounded_caption", "ocr", "text"}
    assert all(d.task in FORMATS for s in (s1, s2) for d in s.data.datasets)
    assert s2.data.pack and s2.data.seq_len == 2048 and s2.data.batch_size * 512 == 4096
    assert (s3.optim.lr, s3.optim.min_lr, s3.optim.warmup_steps, s3.optim.steps) == (1e-5, 1e-6, 3000, 8000)
    assert s3.data.batch_size * s3.optim.accumulation * 64 == 128


def test_overrides_use_dotted_keys_and_yaml_values():
    cfg = load_config(CONFIGS / "tiny.yaml", ["optim.lr=1e-4", "data.datasets=[{path: a.jsonl, weight: 3}]",
                                              "data.datasets.0.task=vqa", "trainable=[adapter]", "lora.r=8",
                                              "model.preset=null", "model.path=/ckpt"])
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.data.datasets[0].path == "a.jsonl" and cfg.data.datasets[0].task == "vqa"
    assert cfg.data.datasets[0].weight == 3.0 and cfg.trainable == ["adapter"]
    assert cfg.lora is not None and cfg.lora.r == 8 and cfg.lora.targets == ["llm"]


def test_toml_and_base_files(tmp_path):
    (tmp_path / "base.toml").write_text('stage = "b"\ntrainable = ["llm"]\n[model]\npath = "/ckpt"\n'
                                        '[[data.datasets]]\npath = "d.jsonl"\n[optim]\nlr = 3e-5\n')
    (tmp_path / "top.yaml").write_text("base: base.toml\noptim: {steps: 7}\n")
    cfg = load_config(tmp_path / "top.yaml")
    assert (cfg.stage, cfg.trainable, cfg.optim.lr, cfg.optim.steps) == ("b", ["llm"], 3e-5, 7)
    assert cfg.optim.warmup_steps == 500  # untouched defaults stay


@pytest.mark.parametrize("overrides,message", [
    (["optim.learning_rate=1"], "unknown key.*learning_rate"),
    (["optim.steps=many"], "optim.steps must be int"),
    (["trainable=[vit, decoder]"], "unknown group"),
    (["run.parallel=zero3"], "ddp or fsdp"),
    (["model.preset=tiny"], "exactly one of model.path"),
    (["lora.r=8", "run.parallel=fsdp"], "LoRA"),
    (["oops"], "key=value"),
])
def test_config_errors_name_the_problem(overrides, message):
    base = ["model.path=/ckpt", "data.datasets=[{path: a.jsonl}]"]
    with pytest.raises(ValueError, match=message):
        load_config(None, base + overrides)
