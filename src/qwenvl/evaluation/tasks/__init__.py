"""Every evaluation task by name: the paper's benchmarks and the synthetic families."""

from __future__ import annotations

from . import caption, choice, documents, mme, refexp, synthetic, vqa
from .base import Item, Scores, Task

TASKS: dict[str, Task] = {t.name: t for module in (caption, vqa, documents, choice, refexp, mme, synthetic)
                          for t in module.TASKS}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose from: {', '.join(TASKS)}") from None


__all__ = ["TASKS", "Item", "Scores", "Task", "get_task"]
