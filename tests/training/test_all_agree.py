"""Two gloo processes: a choice each measures for itself holds only where both made it."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from qwenvl.training.distributed import World, all_agree


def _agree(rank: int, store: str, flags: list[bool], out) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        out.put((rank, all_agree(flags[rank], World(rank, 2, rank, torch.device("cpu")))))
    finally:
        dist.destroy_process_group()


def agreed(flags: list[bool], tmp_path) -> dict[int, bool]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    store = tmp_path / f"store-{'-'.join(map(str, flags))}"
    procs = [ctx.Process(target=_agree, args=(r, str(store), flags, out)) for r in (0, 1)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def test_ranks_that_disagree_all_take_the_safe_choice(tmp_path):
    assert agreed([True, False], tmp_path) == {0: False, 1: False}
    assert agreed([False, True], tmp_path) == {0: False, 1: False}
    assert agreed([True, True], tmp_path) == {0: True, 1: True}


def test_one_process_keeps_its_own_choice():
    world = World(0, 1, 0, torch.device("cpu"))
    assert all_agree(True, world) and not all_agree(False, world)
