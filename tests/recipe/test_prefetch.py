"""Batches drawn ahead come in the stream's order, end with it, carry its errors and stop on close."""

from __future__ import annotations

import itertools
import threading

import pytest

from qwenvl.recipe.prefetch import Prefetched


def test_items_come_in_order_and_end_with_the_stream():
    with Prefetched(iter(range(50)), depth=3) as ahead:
        assert list(ahead) == list(range(50))
        with pytest.raises(StopIteration):
            next(ahead)


def test_an_error_in_the_stream_is_raised_where_the_item_was_due():
    def stream():
        yield 1
        raise ValueError("picture 2 is broken")

    with Prefetched(stream()) as ahead:
        assert next(ahead) == 1
        with pytest.raises(ValueError, match="picture 2 is broken"):
            next(ahead)
        with pytest.raises(ValueError):  # and again, not a hang
            next(ahead)


def test_close_stops_an_endless_stream_and_draws_only_depth_ahead():
    drawn = []

    def endless():
        for i in itertools.count():
            drawn.append(i)
            yield i

    ahead = Prefetched(endless(), depth=2)
    assert [next(ahead) for _ in range(5)] == list(range(5))
    ahead.close()
    assert not ahead._thread.is_alive()
    assert len(drawn) <= 5 + 2 + 2  # the queue, plus one waiting to go in and one being drawn
    assert not any(t.name == "qwenvl-prefetch" and t.is_alive() for t in threading.enumerate())


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth must be at least 1"):
        Prefetched(iter(()), depth=0)
