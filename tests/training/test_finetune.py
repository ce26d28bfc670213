"""LoRA through peft: what trains, merging back into plain weights, and `qwenvl finetune` end to end."""

from __future__ import annotations

import pytest
import torch
from qwenvl_testing import CHECKPOINT
from safetensors.torch import load_file
from training_helpers import tiny_model

from qwenvl.checkpoint import load_model
from qwenvl.cli.finetune import main as finetune
from qwenvl.training.config import LoraSpec
from qwenvl.training.lora import apply_lora, merge
from qwenvl.training.stages import group_of, official_name


def test_lora_trains_only_its_weights_and_the_full_groups():
    model = apply_lora(tiny_model(seed=3), LoraSpec(r=4, alpha=8, dropout=0.0, targets=["llm", "vit"],
                                                     full=["adapter"]))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    lora = [n for n in trainable if "lora_" in n]
    full = [n for n in trainable if "lora_" not in n]
    assert any(".h.0.attn.c_attn." in n for n in lora) and any(".h.1.mlp.w2." in n for n in lora)
    assert any("resblocks.0.mlp.c_fc." in n for n in lora)
    assert not any(".mlp.c_proj." in n and ".h." in n for n in lora)  # the official targets leave it out
    assert full and all(group_of(n) == "adapter" for n in full)
    assert not any(official_name(n).endswith("pos_embed") for n in full)


def test_merged_weights_compute_what_the_lora_model_computes():
    model = apply_lora(tiny_model(seed=4), LoraSpec(r=4, alpha=8, dropout=0.0, targets=["llm", "adapter", "vit"],
                                                     full=[]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)  # peft starts B at zero; make the LoRA products count
    model.eval()
    ids = torch.tensor([[151857] + [151859] * 256 + [151858, 40, 1079, 264]])
    pixels = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        expected = model(ids, pixel_values=pixels)
        merged = merge(model)
        got = merged(ids, pixel_values=pixels)
    assert type(merged).__name__ == "QWenLMHeadModel"
    assert all("lora" not in n and "base_layer" not in n for n in merged.state_dict())
    assert (got - expected).abs().max() < 1e-4


def test_finetune_lora_end_to_end_then_merge(data_dir, tmp_path):
    out = tmp_path / "ft"
    args = ["--model", str(CHECKPOINT), "--data", str(data_dir / "sft.json"), "--out", str(out), "--steps", "2",
            "--lora", "--lora-r", "4", "--no-progress", "data.seq_len=700", "data.workers=0",
            "optim.accumulation=1", "optim.lr=1e-2", "run.bf16=false"]
    assert finetune(args) == 0
    lora_dir = out / "checkpoints" / "step-00000002" / "lora"
    assert (lora_dir / "lora.json").is_file()
    trained = load_file(lora_dir / "lora.safetensors")
    assert any("lora_A" in k for k in trained) and any("attn_pool.query" in k for k in trained)
    base, merged = load_model(CHECKPOINT), load_model(out / "merged")
    b, m = base.state_dict(), merged.state_dict()
    assert not torch.equal(b["transformer.h.0.attn.c_attn.weight"], m["transformer.h.0.attn.c_attn.weight"])
    assert not torch.equal(b["transformer.visual.attn_pool.query"], m["transformer.visual.attn_pool.query"])
    assert torch.equal(b["transformer.h.0.mlp.c_proj.weight"], m["transformer.h.0.mlp.c_proj.weight"])
    assert torch.equal(b["transformer.visual.conv1.weight"], m["transformer.visual.conv1.weight"])
    again = tmp_path / "merged-again"
    assert finetune(["--merge", str(lora_dir), "--out", str(again)]) == 0
    for name, value in load_model(again).state_dict().items():
        assert torch.allclose(value, m[name], atol=1e-6), name


def test_finetune_full_trains_adapter_and_llm_with_the_vit_frozen(data_dir, tmp_path):
    out = tmp_path / "full"
    args = ["--model", str(CHECKPOINT), "--data", str(data_dir / "sft.json"), "--out", str(out), "--steps", "1",
            "--no-progress", "data.seq_len=700", "data.workers=0", "optim.accumulation=1", "run.bf16=false"]
    assert finetune(args) == 0
    base = load_model(CHECKPOINT).state_dict()
    tuned = load_model(out / "checkpoints" / "step-00000001" / "model").state_dict()
    changed = {group_of(n) for n in base if not torch.equal(base[n], tuned[n])}
    assert changed == {"adapter", "llm"}


def test_finetune_names_what_is_missing():
    with pytest.raises(ValueError, match="--model, --data and --out"):
        finetune(["--data", "x.json"])
    with pytest.raises(ValueError, match="--merge needs --out"):
        finetune(["--merge", "some/lora"])
