"""Processes and parallelism: torchrun's environment, DDP or FSDP2, and the few collectives the trainer needs.

Without torchrun the trainer runs as a single process with the same code path (world size 1,
no process group). CPUs use the gloo backend, GPUs NCCL.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_world(device: str = "auto") -> World:
    """Join torchrun's process group when launched by it; pick this process's device."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    rank, size, local = (int(os.environ.get(k, d)) for k, d in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)))
    dev = torch.device(f"cuda:{local}") if device == "cuda" else torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return World(rank, size, local, dev)


def close_world() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, parallel: str, world: World) -> nn.Module:
    """DDP, or FSDP2 with one unit per LLM block, one per ViT block, and the root for the rest.

    `module` is the whole training forward (training.loss.LossModule), so that one call covers
    everything each process runs.
    """
    if world.size == 1:
        return module
    if parallel == "ddp":
        ids = [world.device.index] if world.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)
    from torch.distributed.fsdp import fully_shard

    from .loss import base_model
    base = base_model(module)
    for block in list(base.transformer.h) + list(base.transformer.visual.transformer.resblocks):
        fully_shard(block)
    fully_shard(module)
    return module


@contextlib.contextmanager
def gradient_sync(model: nn.Module, enabled: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulated step."""
    if enabled:
        yield
    elif isinstance(model, nn.parallel.DistributedDataParallel):
        with model.no_sync():
            yield
    elif hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        yield


def all_sum(values: list[float], world: World) -> list[float]:
    """Element-wise sums over all processes (float64, so token counts stay exact)."""
    t = torch.tensor(values, dtype=torch.float64, device=world.device if world.device.type == "cuda" else "cpu")
    if world.size > 1:
        dist.all_reduce(t)
    return t.tolist()


def all_agree(flag: bool, world: World) -> bool:
    """True only where every process says so: a choice each rank measures for itself (bf16 is fast
    here) must still be the same on all of them."""
    return all_sum([float(flag)], world)[0] == world.size


def gather(obj, world: World) -> list | None:
    """Every process's `obj` on rank 0 (None elsewhere)."""
    if world.size == 1:
        return [obj]
    out = [None] * world.size if world.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()
