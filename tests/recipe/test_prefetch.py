"""Batches drawn ahead come in the stream's order, end with it, carry its errors and stop on close;
the loop draws ahead only where asked."""

from __future__ import annotations

import itertools
import threading

import pytest
import torch
from torch import nn

from qwenvl.recipe.loop import Schedule, train
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


@pytest.mark.parametrize("ahead", [False, True])
def test_the_loop_draws_in_line_unless_asked_to_draw_ahead(ahead):
    drawn_in = []

    def batches():
        while True:
            drawn_in.append(threading.current_thread().name)
            yield torch.ones(2, 3)

    layer = nn.Linear(3, 1)
    summary = train(layer, batches(), Schedule(steps=3, lr=1e-2, warmup=1), "tiny",
                    loss_fn=lambda model, batch: model(batch).pow(2).mean(), progress=False, ahead=ahead)
    assert summary["steps"] == 3
    threads = set(drawn_in)
    assert threads == ({"qwenvl-prefetch"} if ahead else {threading.main_thread().name})
