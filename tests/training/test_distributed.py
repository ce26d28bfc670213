"""Two processes under torchrun on the CPU (gloo), DDP and FSDP2: loss falls, checkpoints are
written, and a run killed (even in the middle of writing a checkpoint) resumes with exactly the
losses of an uninterrupted run."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from qwenvl_testing import CHECKPOINT
from training_helpers import REPO

from qwenvl.checkpoint import load_model
from qwenvl.training.checkpointing import latest_checkpoint
from qwenvl.training.datasets import choose_dataset
from qwenvl.training.metrics import read_metrics

STEPS = 4  # checkpoints at steps 2 and 4


WEIGHTS = {"pretrain.jsonl": 2, "sft.json": 1, "shards": 1, "text.jsonl": 1}


def torchrun(out: Path, data_dir: Path, parallel: str, *extra: str, env: dict | None = None):
    datasets = "data.datasets=[" + ", ".join(f"{{path: {data_dir / n}, weight: {w}}}" for n, w in WEIGHTS.items()) + "]"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "qwenvl.cli.train", str(REPO / "configs" / "tiny.yaml"), datasets, f"run.out_dir={out}",
           f"run.parallel={parallel}", f"model.tokenizer={CHECKPOINT}", f"optim.steps={STEPS}", "optim.lr=5e-3",
           "run.save_every=2", "data.seq_len=700", "--no-progress", *extra]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300, check=False)


def test_some_step_has_images_on_one_process_only():
    """So the runs below cover a vision tower that must run on a blank image on one process."""
    cumulative = list(itertools.accumulate(w / sum(WEIGHTS.values()) for w in WEIGHTS.values()))
    text = list(WEIGHTS).index("text.jsonl")
    picks = [[choose_dataset(cumulative, seed=0, part=rank, row=r) == text for rank in (0, 1)] for r in range(STEPS)]
    assert any(a != b for a, b in picks), picks


def losses(out: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(out / "metrics.jsonl")}


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_process_training_resumes_exactly(parallel, data_dir, tmp_path):
    full = tmp_path / "full"
    done = torchrun(full, data_dir, parallel)
    assert done.returncode == 0, done.stderr[-3000:]
    reference = losses(full)
    assert sorted(reference) == list(range(1, STEPS + 1))
    assert reference[STEPS] < reference[1] - 0.5, reference  # it learns
    assert [p.name for p in sorted((full / "checkpoints").iterdir())] == ["step-00000002", "step-00000004"]
    assert load_model(latest_checkpoint(full) / "model").cfg.vision.image_size == 56
    assert "skipped records" in done.stderr and "bad_image" in done.stderr  # counted and reported

    killed = tmp_path / "killed"
    # DDP dies halfway through writing the step-4 checkpoint; FSDP2 right after step 3.
    hook = {"QWENVL_TEST_EXIT_IN_CHECKPOINT": "4"} if parallel == "ddp" else {"QWENVL_TEST_EXIT_AFTER_STEP": "3"}
    crashed = torchrun(killed, data_dir, parallel, env=hook)
    assert crashed.returncode != 0
    previous = latest_checkpoint(killed)
    assert previous.name == "step-00000002"
    load_model(previous / "model")  # the previous checkpoint is intact and loads
    if parallel == "ddp":
        assert list((killed / "checkpoints").glob(".step-00000004.tmp"))  # the half-written one

    resumed = torchrun(killed, data_dir, parallel, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = losses(killed)
    assert sorted(again) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert abs(again[step] - reference[step]) <= 1e-6, (step, again[step], reference[step])
    assert not list((killed / "checkpoints").glob(".step-*.tmp"))  # the leftover was cleaned up
    assert (killed / "loss.png").stat().st_size > 1000
