"""Training checkpoints, written so that a crash at any moment leaves the previous one intact.

    OUT/checkpoints/step-00000100/
        model/             official-format model directory (full training), loadable by load_model
        lora/              LoRA runs: the trained weights and settings (see training.lora)
        optimizer.pt       the full optimizer state, keyed by parameter name
        trainer_state.pt   step, scheduler, and each rank's RNG states and data position

Everything is written under a temporary name, flushed to disk, and renamed into place in one
step; a directory named `step-…` is therefore always complete.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from ..fsutil import fsync_path
from .faults import exit_if_requested

_STEP_DIR = re.compile(r"^step-(\d{8})$")


def checkpoints_root(out_dir: str | Path) -> Path:
    return Path(out_dir) / "checkpoints"


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The complete checkpoint with the highest step, or None."""
    root = checkpoints_root(out_dir)
    steps = sorted((int(m.group(1)), p) for p in root.glob("step-*") if (m := _STEP_DIR.match(p.name)))
    return steps[-1][1] if steps else None


def write_checkpoint(out_dir: str | Path, step: int, write_weights: Callable[[Path], None], optimizer_state: dict,
                     trainer_state: dict, keep: int) -> Path:
    """Write a checkpoint atomically (rank 0 only) and keep the newest `keep` of them."""
    root = checkpoints_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".step-*.tmp"):
        shutil.rmtree(stale)  # left by a run that died while saving
    final, tmp = root / f"step-{step:08d}", root / f".step-{step:08d}.tmp"
    tmp.mkdir()
    write_weights(tmp)
    exit_if_requested("IN_CHECKPOINT", step)
    torch.save(optimizer_state, tmp / "optimizer.pt")
    torch.save(trainer_state, tmp / "trainer_state.pt")
    _fsync_tree(tmp)
    if final.exists():  # the same step written by an earlier attempt: move it aside first
        old = root / f".step-{step:08d}.old.tmp"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    fsync_path(root)
    _prune(root, keep)
    return final


def read_trainer_state(ckpt: Path) -> dict:
    return torch.load(ckpt / "trainer_state.pt", map_location="cpu", weights_only=True)


def read_optimizer_state(ckpt: Path) -> dict:
    return torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True)


def _prune(root: Path, keep: int) -> None:
    done = sorted(p for p in root.glob("step-*") if _STEP_DIR.match(p.name))
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(old)


def _fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*"), reverse=True):  # files and folders alike, deepest first
        fsync_path(p)
    fsync_path(path)

