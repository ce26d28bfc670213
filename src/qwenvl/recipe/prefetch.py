"""Batches made in a background thread while the current step computes.

The recipe draws its pictures in the training process. Drawing and resizing (NumPy and Pillow,
which release the GIL) leave the matrix kernels room on two cores, so making the next batch
during a step hides most of its cost instead of adding it. One thread draws them in order:
the stream and a run stay a pure function of their seed. Batches whose making is mostly Python
hold the GIL instead, and their phases draw in line (`loop.train`'s `ahead`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class Prefetched(Iterator[T]):
    """`items` drawn `depth` ahead in a daemon thread; an error in the thread is raised by `next`.
    `close()` (or leaving a `with` block) stops the thread."""

    def __init__(self, items: Iterator[T], depth: int = 2):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(items,), name="qwenvl-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            self._put(error)

    def __next__(self) -> T:
        item = self._queue.get()
        if item is _DONE:
            self._queue.put(_DONE)
            raise StopIteration
        if isinstance(item, BaseException):
            self._queue.put(item)
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> "Prefetched[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
