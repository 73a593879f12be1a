"""Where each requested item (source, video, clip) ended in one run, and what that means for the
exit code: 0 only when every item ended ``ok`` or ``skipped`` (with a reason); 1 when any
``failed`` or was ``locked`` by another build (named with its holder). Build, rerun and harvest
summaries, reports and exit codes all read these.
"""

from __future__ import annotations

from typing import Any

from storage.plan import outcome

__all__ = ["DONE", "describe", "exit_code", "outcome"]

DONE = ("ok", "skipped")
"""Statuses that count as done for the exit code."""


def describe(o: dict[str, Any]) -> str:
    """One line for an item that did not end ok: 'ID: STATUS at STAGE: REASON' (no 'at None')."""
    at = f" at {o['stage']}" if o.get("stage") else ""
    return f"{o['clip']}: {o['status']}{at}: {o['reason']}"


def exit_code(outcomes: list[dict[str, Any]]) -> int:
    """0 when every outcome is ok or skipped, else 1."""
    return int(any(o["status"] not in DONE for o in outcomes))
