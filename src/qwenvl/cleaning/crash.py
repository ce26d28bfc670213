"""A deterministic crash point, so tests can prove that restarts lose and duplicate nothing.

`QWENVL_CLEAN_CRASH=PASS:N:POINT` makes the process `os._exit(CRASH_EXIT)` the N-th time it
reaches POINT in PASS ("stage" or "write"); the points bracket the moments a real kill could
hit: "partial" (output fully written under its temp name, not yet renamed), "published"
(renamed into place, marker not yet written) and "marked" (marker written).
"""

from __future__ import annotations

import os

ENV = "QWENVL_CLEAN_CRASH"
CRASH_EXIT = 86
_hits: dict[tuple[str, str], int] = {}


def point(pass_name: str, where: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    want_pass, n, want_where = spec.split(":")
    if (want_pass, want_where) != (pass_name, where):
        return
    _hits[(pass_name, where)] = _hits.get((pass_name, where), 0) + 1
    if _hits[(pass_name, where)] == int(n):
        os._exit(CRASH_EXIT)
