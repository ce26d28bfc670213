"""Checkpoints: complete or absent, never half-written; pruning; metrics truncated on resume."""

from __future__ import annotations

import pytest
import torch
from qwenvl_testing import CHECKPOINT
from training_helpers import tiny_model

from qwenvl.checkpoint import load_model, save_model
from qwenvl.training import checkpointing
from qwenvl.training.checkpointing import (
    latest_checkpoint,
    read_trainer_state,
    write_checkpoint,
)
from qwenvl.training.metrics import MetricsLog, plot_loss, read_metrics


class Killed(Exception):
    pass


def test_a_crash_while_writing_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    model = tiny_model(seed=5)

    def weights(d):
        save_model(model, d / "model", source_dir=CHECKPOINT)

    write_checkpoint(tmp_path, 10, weights, {"opt": 1}, {"step": 10}, keep=2)
    saved = model.lm_head.weight.detach().clone()

    def die(point, step):
        if point == "IN_CHECKPOINT":
            raise Killed  # stands in for the process dying here
    monkeypatch.setattr(checkpointing, "exit_if_requested", die)
    with torch.no_grad():
        model.lm_head.weight.add_(1.0)
    with pytest.raises(Killed):
        write_checkpoint(tmp_path, 20, weights, {"opt": 2}, {"step": 20}, keep=2)
    assert (tmp_path / "checkpoints" / ".step-00000020.tmp" / "model" / "model.safetensors").is_file()
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt.name == "step-00000010" and read_trainer_state(ckpt)["step"] == 10
    loaded = load_model(ckpt / "model")
    assert torch.equal(loaded.state_dict()["lm_head.weight"], saved)  # the loader may pack the weight itself

    monkeypatch.undo()
    for step in (20, 30, 40):
        write_checkpoint(tmp_path, step, weights, {}, {"step": step}, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-00000030", "step-00000040"]  # pruned; the half-written one is gone


def test_metrics_drop_steps_after_the_resumed_checkpoint_and_plot(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl", start_step=0)
    for step in range(1, 6):
        log.write({"step": step, "loss": 10.0 - step, "lr": 1e-3})
    resumed = MetricsLog(tmp_path / "metrics.jsonl", start_step=3)
    resumed.write({"step": 4, "loss": 5.5, "lr": 1e-3})
    assert [(r["step"], r["loss"]) for r in read_metrics(tmp_path / "metrics.jsonl")] == \
        [(1, 9.0), (2, 8.0), (3, 7.0), (4, 5.5)]
    plot_loss(tmp_path / "metrics.jsonl", tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
