"""Warnings about damaged data (an unreadable marker, a stray folder) as one stderr line each.

They go to the ``ytocc`` logger with a handler of its own that writes to the current
``sys.stderr`` and does not propagate, so no other logging set-up (Prefect's API handlers,
outside a run) can turn a warning into a traceback; callers may capture them with ``caplog``.
"""

from __future__ import annotations

import logging
import sys


class _Stderr(logging.StreamHandler):
    """A stream handler bound to whatever ``sys.stderr`` is when it emits."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


log = logging.getLogger("ytocc")
if not any(isinstance(h, _Stderr) for h in log.handlers):
    _handler = _Stderr()
    _handler.setFormatter(logging.Formatter("warning: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def warn(message: str, *args: object) -> None:
    """One ``warning: ...`` line on stderr."""
    log.warning(message, *args)
