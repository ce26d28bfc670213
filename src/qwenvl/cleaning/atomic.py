"""Write-then-rename, so a reader (or a restart) sees a whole file or none of it.

Every output is first written under `partial_path(final)`; a crashed run leaves only such
names behind, which never count as finished and are overwritten by the next attempt.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def partial_path(final: Path) -> Path:
    return final.with_name(final.name + PARTIAL_SUFFIX)


def remove(path: Path) -> None:
    """Delete a file or folder if present (stale output of an interrupted attempt)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def publish(tmp: Path, final: Path) -> None:
    """Move a finished temp file or folder into place, replacing what was there."""
    if tmp.is_dir() and final.exists():
        remove(final)
    os.replace(tmp, final)


def write_bytes(final: Path, data: bytes) -> None:
    """Small files (markers, reports); the pid in the temp name lets two ranks race safely."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}{PARTIAL_SUFFIX}-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)


def write_json(final: Path, obj) -> None:
    write_bytes(final, json.dumps(obj, indent=1, sort_keys=True).encode("ascii"))


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))
