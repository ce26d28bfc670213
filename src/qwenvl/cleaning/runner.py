"""Run the cleaning over a corpus: this rank's shards, local worker processes, two passes.

    pass 1  stage every assigned shard (per-pair rules)        -> _work/staged/<id>.json
    barrier wait until all ranks have staged all shards
    dedup   replay survivors in corpus order (every rank, same answer)
    pass 2  write every assigned shard, then its marker         -> <out>/<shard>, _done/<id>.json
    report  rank 0 waits for all markers, writes stats and gallery

Shards with a marker are skipped, so a restarted run picks up where the last one died; ranks
only meet through files in the (shared) output folder.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

from tqdm import tqdm

from . import atomic, gallery, report
from .config import CleanConfig, fingerprint
from .dedup import find_duplicates
from .errors import CleaningError
from .finish import finish_shard
from .shards import Shard, assigned, discover, plan
from .stage import stage_shard
from .state import Layout, claim_run, wait_for


@dataclass(frozen=True)
class RunOptions:
    inputs: list[str]
    output: Path
    cfg: CleanConfig = field(default_factory=CleanConfig)
    workers: int = 1
    rank: int = 0
    world_size: int = 1
    wait_timeout: float = 24 * 3600.0
    progress: bool = True


@dataclass(frozen=True)
class RunSummary:
    shards: int          # in the whole corpus
    assigned: int        # to this rank
    staged: int          # pass-1 shards done by this invocation (others were already done)
    written: int         # pass-2 shards done by this invocation
    pairs_read: int      # pairs judged in pass 1 by this invocation
    pairs_written: int   # pairs written in pass 2 by this invocation
    seconds: float
    report: dict | None  # clean_stats.json content, on rank 0

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_read / self.seconds if self.seconds > 0 else 0.0


def run(opts: RunOptions) -> RunSummary:
    if not 0 <= opts.rank < opts.world_size:
        raise CleaningError(f"rank {opts.rank} is outside world size {opts.world_size}")
    if opts.workers < 1:
        raise CleaningError(f"--workers must be >= 1, got {opts.workers}")
    start = time.perf_counter()
    cfg, layout = opts.cfg, Layout(opts.output.resolve())
    shards = plan(discover(opts.inputs), cfg.input)
    claim_run(layout, fingerprint(cfg), shards)
    mine = assigned(shards, opts.rank, opts.world_size)

    with _pool(opts) as pool:
        to_stage = [s for s in mine if not layout.done(s).exists() and not layout.staged(s).exists()]
        read = _map(pool, stage_shard, [(s, cfg, layout) for s in to_stage], opts, "clean")
        wait_for([layout.staged(s) for s in shards], opts.wait_timeout, "staged shards")

        to_write = [s for s in mine if not layout.done(s).exists()]
        written: list[int] = []
        if to_write:
            duplicates = find_duplicates(shards, layout, cfg, {s.id for s in to_write})
            jobs = [(s, cfg, layout, duplicates[s.id]) for s in to_write]
            written = _map(pool, finish_shard, jobs, opts, "write")

    doc = None
    if opts.rank == 0:
        wait_for([layout.done(s) for s in shards], opts.wait_timeout, "finished shards")
        doc = write_reports(layout, shards, cfg)
    return RunSummary(len(shards), len(mine), len(to_stage), len(to_write), sum(read), sum(written),
                      time.perf_counter() - start, doc)


def write_reports(layout: Layout, shards: list[Shard], cfg: CleanConfig) -> dict:
    markers = [atomic.read_json(layout.done(s)) for s in shards]
    doc = report.build(markers)
    atomic.write_json(layout.stats_json, doc)
    atomic.write_bytes(layout.stats_md, report.markdown(doc).encode("utf-8"))
    picked = gallery.merge([m["gallery"] for m in markers], cfg.report.gallery_samples)
    dropped = doc["table"][-1]["dropped"]
    atomic.write_bytes(layout.gallery, gallery.render(picked, dropped).encode("utf-8", "replace"))
    return doc


_counter = None  # pairs processed, shared by the worker processes for the progress bar


def _init_worker(counter) -> None:
    global _counter
    _counter = counter


def _tick(n: int) -> None:
    with _counter.get_lock():
        _counter.value += n


def _call(fn: Callable, args: tuple):
    return fn(*args, progress=_tick)


@contextlib.contextmanager
def _pool(opts: RunOptions):
    """One pool of spawned workers for both passes, or None to work in this process.

    Spawned rather than forked: a pluggable scorer may hold CUDA or threads, which fork breaks.
    """
    if opts.workers == 1:
        yield None
        return
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    with ProcessPoolExecutor(opts.workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(counter,)) as executor:
        yield _Workers(executor, counter)


@dataclass(frozen=True)
class _Workers:
    executor: ProcessPoolExecutor
    counter: object  # multiprocessing.Value: pairs processed by all workers so far


def _map(pool: _Workers | None, fn: Callable, jobs: list[tuple], opts: RunOptions, desc: str) -> list:
    """fn(*job) for each job, in order, in the pool (or here), with a pairs/s progress bar."""
    bar = tqdm(desc=f"{desc} (rank {opts.rank})", unit="pair", disable=not opts.progress, smoothing=0.1)
    try:
        if pool is None:
            return [fn(*job, progress=bar.update) for job in jobs]
        futures = [pool.executor.submit(_call, fn, job) for job in jobs]
        shown, pending = pool.counter.value, futures
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
            bar.update(pool.counter.value - shown)
            shown = pool.counter.value
            for f in done:
                if f.exception() is not None:
                    pool.executor.shutdown(wait=True, cancel_futures=True)
                    raise f.exception()
        return [f.result() for f in futures]
    finally:
        bar.close()
