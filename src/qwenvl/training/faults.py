"""Test hooks that end the process abruptly at a chosen point, to prove that resume is exact.

`QWENVL_TEST_EXIT_AFTER_STEP=N` exits right after step N; `QWENVL_TEST_EXIT_IN_CHECKPOINT=N`
exits halfway through writing the checkpoint of step N. `os._exit` skips every cleanup, the
closest a test can get to a killed process at a known moment. Unset, they do nothing.
"""

from __future__ import annotations

import os

EXIT_CODE = 86


def exit_if_requested(point: str, step: int) -> None:
    if os.environ.get(f"QWENVL_TEST_EXIT_{point}") == str(step):
        os._exit(EXIT_CODE)
