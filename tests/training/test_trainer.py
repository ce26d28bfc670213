"""The trainer in one process: the loss over accumulated micro-batches, and a run through `qwenvl train`."""

from __future__ import annotations

import torch
from qwenvl_testing import CHECKPOINT
from training_helpers import CONFIGS, tiny_spec

from qwenvl.checkpoint import load_model
from qwenvl.cli.train import main as train_main
from qwenvl.training.build import build_model
from qwenvl.training.config import load_config
from qwenvl.training.distributed import World
from qwenvl.training.formats import pretrain_sample
from qwenvl.training.loss import LossModule
from qwenvl.training.metrics import read_metrics
from qwenvl.training.packing import Example, collate
from qwenvl.training.trainer import train_step


def grads_after_one_step(batches, cfg):
    model = build_model(tiny_spec(), seed=7)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = {}

    class Keep(torch.optim.SGD):
        def step(self):
            grads.update({i: p.grad.clone() for i, p in enumerate(params)})

    loss = LossModule(model, image_size=56, vision_trains=True)
    stats = train_step(loss, Keep(params, lr=0.0), params, batches, cfg, World(0, 1, 0, torch.device("cpu")), bf16=False)
    return stats, grads


def test_accumulated_micro_batches_equal_one_big_batch(qwen_tokenizer):
    cfg = load_config(CONFIGS / "tiny.yaml", ["data.datasets=[{path: x.jsonl}]", f"model.tokenizer={CHECKPOINT}"])
    torch.manual_seed(0)
    a = Example.from_sample(pretrain_sample(qwen_tokenizer, {"image": "a", "caption": "a long red square caption"},
                                            "caption", [(9, 9)]), torch.randn(1, 3, 56, 56))
    b = Example.from_sample(pretrain_sample(qwen_tokenizer, {"text": "Short."}, "text", []), torch.empty(0, 3, 56, 56))
    pad = qwen_tokenizer.eod_id
    one, g1 = grads_after_one_step([collate([[a], [b]], len(a), pad)], cfg)
    two, g2 = grads_after_one_step([collate([[a]], len(a), pad), collate([[b]], len(b), pad)], cfg)
    assert one["targets"] == two["targets"] and abs(one["loss"] - two["loss"]) < 1e-5
    for i in g1:
        assert torch.allclose(g1[i], g2[i], atol=1e-6, rtol=1e-4), i


def test_train_cli_single_process_stage1(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    datasets = f"data.datasets=[{{path: {data_dir / 'shards'}}}, {{path: {data_dir / 'bad.jsonl'}, task: pair}}]"
    argv = [str(CONFIGS / "tiny.yaml"), datasets, f"run.out_dir={out}", f"model.tokenizer={CHECKPOINT}",
            "trainable=[vit, adapter]", "optim.steps=2", "optim.accumulation=2", "data.pack=false",
            "data.batch_size=2", "data.workers=1", "run.activation_checkpointing=true", "run.bf16=true"]
    assert train_main(argv) == 0
    err = capsys.readouterr().err
    assert "loss=" in err and "tok/s=" in err and "lr=" in err and "<" in err  # the bar, with its ETA
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2] and all(r["samples"] == 4 for r in records)
    assert all(r["tokens_per_s"] > 0 and r["peak_mem_mb"] > 0 for r in records)
    start = build_model(tiny_spec(), seed=0).state_dict()
    end = load_model(out / "checkpoints" / "step-00000002" / "model").state_dict()
    assert torch.equal(start["lm_head.weight"], end["lm_head.weight"])  # stage 1: the LLM is frozen
    assert torch.equal(start["transformer.h.1.mlp.w1.weight"], end["transformer.h.1.mlp.w1.weight"])
    assert not torch.equal(start["transformer.visual.conv1.weight"], end["transformer.visual.conv1.weight"])
    assert (out / "loss.png").is_file() and (out / "data_report.json").is_file()
