"""The one exception the cleaner raises for problems a user can fix (bad flags, config, inputs)."""

from __future__ import annotations


class CleaningError(Exception):
    """A user-fixable problem; the CLI prints it without a traceback and exits with status 1."""
