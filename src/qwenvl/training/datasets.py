"""Training data: records → examples → a weighted mixture → packed batches, resumable exactly.

The data is split into parts, one per (rank, loader worker). Each part streams its share of
every dataset, picks the dataset of each row from the mixture weights (a pure function of the
seed, the part and the row number), and reports its position after every batch. The trainer
keeps the position of the last batch it took from each part, so a checkpoint knows exactly
where to restart. A record that cannot be used (malformed, missing or corrupt image, too long)
is skipped and counted per dataset and reason; the counts travel with the positions.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..data.images import ImageError, ImageLimits, load_image, preprocess_batch
from ..interface.chatml import DEFAULT_SYSTEM
from .config import DataConfig, DatasetSpec
from .formats import image_refs, pretrain_sample
from .packing import Example, collate, pack_row
from .sft import llava_conversation, sft_sample
from .sources import Raw, open_source

MAX_SKIPS_IN_A_ROW = 1000  # a dataset with nothing usable stops the run instead of spinning


class Skip(Exception):
    """A record that is skipped; `reason` is what the run's report counts."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class ExampleBuilder:
    """A record and its images → an Example, or Skip(reason)."""

    tokenizer: object
    image_size: int
    seq_len: int
    task: str
    mask_prompt: bool = False
    system: str = DEFAULT_SYSTEM
    limits: ImageLimits = field(default_factory=ImageLimits)

    def __call__(self, raw: Raw) -> Example:
        if raw.error:
            raise Skip(raw.error)
        try:
            sample, images = self._sample(raw)
        except (ImageError, OSError):
            raise Skip("bad_image") from None
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise Skip("bad_record") from None
        if len(sample) > self.seq_len:
            raise Skip("too_long")
        return Example.from_sample(sample, preprocess_batch(images, self.image_size))

    def _sample(self, raw: Raw):
        record = raw.record
        if "conversations" in record:
            turns = record["conversations"]
            if any(t.get("from") in ("human", "gpt") for t in turns):
                turns = llava_conversation(record)
            sample = sft_sample(self.tokenizer, turns, record.get("system", self.system))
            return sample, self._load(raw, sample.images)
        images = self._load(raw, image_refs(record))
        sizes = [im.size for im in images]
        return pretrain_sample(self.tokenizer, record, record.get("task", self.task), sizes, self.mask_prompt), images

    def _load(self, raw: Raw, refs: list[str]) -> list:
        return [load_image(raw.open_image(ref), self.limits) for ref in refs]


class ExampleStream:
    """One dataset's examples for one part, in order; `cursor` is just before the next unused one."""

    def __init__(self, name: str, source, build: ExampleBuilder, cursor, skipped: Counter):
        self.name, self.build, self.cursor, self.skipped = name, build, cursor, skipped
        self._records = source.read(cursor) if cursor is not None else source.read()
        self._next = None

    def peek(self) -> Example:
        in_a_row = 0
        while self._next is None:
            raw, after = next(self._records)
            try:
                self._next = (self.build(raw), after)
            except Skip as s:
                self.skipped[s.reason] += 1
                self.cursor = after
                in_a_row += 1
                if in_a_row >= MAX_SKIPS_IN_A_ROW:
                    raise ValueError(f"dataset {self.name}: {in_a_row} records in a row were unusable "
                                     f"({dict(self.skipped)}); check its paths and format") from None
        return self._next[0]

    def pop(self) -> Example:
        example = self.peek()
        self.cursor, self._next = self._next[1], None
        return example


def dataset_name(spec: DatasetSpec) -> str:
    return spec.name or Path(spec.path).name


def choose_dataset(cumulative: list[float], seed: int, part: int, row: int) -> int:
    """The dataset of row `row` of a part: a pure function, so a resumed run draws the same ones."""
    u = random.Random(f"{seed}:{part}:{row}").random()
    return min(bisect.bisect_right(cumulative, u), len(cumulative) - 1)


class PartStream:
    """The batches of one data part: each row from one dataset chosen by weight, packed or single."""

    def __init__(self, cfg: DataConfig, tokenizer, image_size: int, part: int, n_parts: int, seed: int,
                 state: dict | None = None):
        self.cfg, self.part, self.seed = cfg, part, seed
        self.pad_id = tokenizer.eod_id
        state = state or {"rows": 0, "cursors": [None] * len(cfg.datasets), "skipped": {}}
        self.rows = state["rows"]
        self.streams = []
        for spec, cursor in zip(cfg.datasets, state["cursors"]):
            name = dataset_name(spec)
            build = ExampleBuilder(tokenizer, image_size, cfg.seq_len, spec.task, cfg.mask_prompt, cfg.system)
            source = open_source(spec.path, spec.root, part, n_parts, seed)
            self.streams.append(ExampleStream(name, source, build, cursor, Counter(state["skipped"].get(name, {}))))
        weights = [spec.weight for spec in cfg.datasets]
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"dataset weights must be non-negative with a positive sum, got {weights}")
        self.cumulative = list(itertools.accumulate(w / sum(weights) for w in weights))

    def state(self) -> dict:
        return {"rows": self.rows, "cursors": [s.cursor for s in self.streams],
                "skipped": {s.name: dict(s.skipped) for s in self.streams if s.skipped}}

    def __iter__(self):
        while True:
            rows = [self._row() for _ in range(self.cfg.batch_size)]
            width = self.cfg.seq_len if self.cfg.pack else max(sum(map(len, r)) for r in rows)
            yield collate(rows, width, self.pad_id), self.state()

    def _row(self) -> list[Example]:
        stream = self.streams[choose_dataset(self.cumulative, self.seed, self.part, self.rows)]
        self.rows += 1
        return pack_row(stream, self.cfg.seq_len) if self.cfg.pack else [stream.pop()]


class PartsDataset(IterableDataset):
    """What each loader worker runs: the part of (rank, worker), from its saved position.

    After a resume the DataLoader starts again at worker 0, so worker w plays the part that
    was next in line: `(w + offset) % workers`.
    """

    def __init__(self, cfg: DataConfig, tokenizer_path: str, image_size: int, rank: int, world: int, seed: int,
                 states: list, offset: int):
        self.cfg, self.tokenizer_path, self.image_size = cfg, tokenizer_path, image_size
        self.rank, self.world, self.seed, self.states, self.offset = rank, world, seed, states, offset

    def __iter__(self):
        from ..interface.tokenizer import QwenTokenizer

        info = get_worker_info()
        n = len(self.states)
        role = ((info.id if info else 0) + self.offset) % n
        tokenizer = QwenTokenizer.from_pretrained(self.tokenizer_path)
        stream = PartStream(self.cfg, tokenizer, self.image_size, self.rank * n + role, self.world * n, self.seed,
                            self.states[role])
        for batch, state in stream:
            yield batch, role, state


class TrainLoader:
    """Endless micro-batches for this rank, with a `state_dict` that resumes at the next one."""

    def __init__(self, cfg: DataConfig, tokenizer_path: str, image_size: int, rank: int, world: int, seed: int,
                 state: dict | None = None, pin_memory: bool = False):
        n = max(cfg.workers, 1)
        state = state or {"consumed": 0, "parts": [None] * n}
        if len(state["parts"]) != n:
            raise ValueError(f"the checkpoint was written with {len(state['parts'])} loader worker(s) per rank; "
                             f"resume with data.workers={len(state['parts'])}")
        self.consumed, self.parts = state["consumed"], list(state["parts"])
        dataset = PartsDataset(cfg, str(tokenizer_path), image_size, rank, world, seed, self.parts,
                               self.consumed % n)
        loader = DataLoader(dataset, batch_size=None, num_workers=cfg.workers, pin_memory=pin_memory,
                            prefetch_factor=2 if cfg.workers else None, persistent_workers=cfg.workers > 0)
        self._batches = iter(loader)

    def __next__(self):
        batch, role, state = next(self._batches)
        self.parts[role] = state
        self.consumed += 1
        return batch

    def __iter__(self):
        return self

    def state_dict(self) -> dict:
        return {"consumed": self.consumed, "parts": list(self.parts)}

    def skipped(self) -> dict[str, dict[str, int]]:
        """Records skipped so far by this rank, per dataset and reason."""
        total: dict[str, Counter] = {}
        for part in self.parts:
            for name, counts in (part or {}).get("skipped", {}).items():
                total.setdefault(name, Counter()).update(counts)
        return {name: dict(c) for name, c in total.items()}
