"""Parquet manifests: JSONL's columns (image path or image bytes, caption, extra metadata).

pyarrow is an optional dependency (`pip install 'qwenvl[clean]'`); only Parquet needs it.
The cleaned file keeps the input's schema; it is read in row-group batches, never whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Iterator

from ..atomic import partial_path, publish, remove
from ..config import CleanConfig
from ..errors import CleaningError
from ..sample import Sample
from .records import ImageFolder, output_record, record_sample

_BATCH = 512


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as e:
        raise CleaningError("Parquet manifests need pyarrow: pip install 'qwenvl[clean]' "
                            "(or pip install pyarrow)") from e
    return pyarrow, pyarrow.parquet


def read(path: Path, cfg: CleanConfig, problems: list[str]) -> Iterator[Sample]:
    pa, pq = _pyarrow()
    row = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH):
            for record in batch.to_pylist():
                key = str(record.get("key", f"R{row}"))
                row += 1
                yield record_sample(record, key, path.parent, cfg)
    except (pa.ArrowException, OSError) as e:
        problems.append(f"{path.name}: reading stopped at row {row}: {type(e).__name__}: {e}")


class Writer:
    def __init__(self, dest: Path, cfg: CleanConfig, source: Path):
        pa, pq = _pyarrow()
        self._pa, self.cfg, self.dest, self.tmp = pa, cfg, dest, partial_path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove(self.tmp)
        self.schema = pq.read_schema(source)
        self.images = ImageFolder(dest)
        self._writer = pq.ParquetWriter(self.tmp, self.schema)
        self._rows: list[dict] = []
        self.count = 0

    def write(self, sample: Sample, caption: str) -> None:
        self._rows.append(output_record(sample, caption, self.images, self.count, self.cfg))
        self.count += 1
        if len(self._rows) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        self._writer.write_table(self._pa.Table.from_pylist(self._rows, schema=self.schema))
        self._rows = []

    def close(self) -> None:
        if self._rows:
            self._flush()
        self._writer.close()
        with open(self.tmp, "rb+") as f:
            os.fsync(f.fileno())

    def commit(self) -> None:
        self.images.commit()
        publish(self.tmp, self.dest)
