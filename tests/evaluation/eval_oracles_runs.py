"""Stand-in predictors for the runner: answers derived from the references, so a task's reader,
prompt-free wiring and scorer can be checked against known scores without a trained model."""

from __future__ import annotations

import re

from qwenvl.evaluation.tasks.base import most_common
from qwenvl.evaluation.tasks.refexp import image_size

_TAGS = re.compile(r"</?(ref|box|quad)>")


def perfect(task, item) -> dict:
    if task.mode == "choice":
        losses = [2.0] * len(item.choices)
        losses[item.answer] = 0.5
        return {"id": item.id, "losses": losses, "choice": item.answer}
    if item.box is not None and task.name.startswith(("refcoco", "synth_grounding")):
        w, h = image_size(item)
        x1, y1, x2, y2 = (round(v / s * 999) for v, s in zip(item.box, (w, h, w, h)))
        return {"id": item.id, "text": f"({x1},{y1}),({x2},{y2})", "raw": f"({x1},{y1}),({x2},{y2})</box>"}
    answer = most_common(item.answers)
    return {"id": item.id, "text": _TAGS.sub("", answer).strip(), "raw": answer}


def wrong(task, item) -> dict:
    if task.mode == "choice":
        losses = [0.5] * len(item.choices)
        losses[item.answer] = 2.0
        return {"id": item.id, "losses": losses, "choice": (item.answer + 1) % len(item.choices)}
    if task.name == "mme":
        flipped = "No" if item.answers[0] == "Yes" else "Yes"
        return {"id": item.id, "text": flipped, "raw": flipped}
    if item.box is not None:
        return {"id": item.id, "text": "(0,0),(1,1)", "raw": "(0,0),(1,1)</box>"}
    return {"id": item.id, "text": "zzzz", "raw": "zzzz"}


def unparsable(task, item) -> dict:
    return {"id": item.id, "text": "I am not sure", "raw": "I am not sure"}


class Scripted:
    """A predictor answering with `answer(task, item)`, counting the items it was asked."""

    def __init__(self, task, answer=perfect):
        self.task, self.answer, self.asked = task, answer, []

    def __call__(self, items):
        self.asked += [i.id for i in items]
        return [self.answer(self.task, i) for i in items]
