"""Stage markers: the source of truth for what is done, skipped or failed, and why.

A marker is written last, after a stage's outputs; a stage is done iff its marker says
``ok`` (or ``skipped``) and its parameter hash matches the current one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import resource
import socket
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from storage.atomic import folder_error, read_json, write_json

Status = Literal["ok", "skipped", "failed"]
STATUSES: tuple[str, ...] = ("ok", "skipped", "failed")


class StageFailure(Exception):
    """A deterministic failure of one item (bad video, degenerate reconstruction).

    Recorded as ``failed`` with `reason`; never retried. `stats` land in the marker.
    """

    def __init__(self, reason: str, **stats: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stats = stats


class StageSkip(Exception):
    """An item dropped on purpose (outdoor clip, static clip): recorded as ``skipped``."""

    def __init__(self, reason: str, **stats: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stats = stats


class TransientError(Exception):
    """A failure worth retrying (network, a busy server). Flows retry only this type."""


def code_version() -> str:
    """The installed ytocc version (informational; code changes re-run via ``ytocc rerun``)."""
    try:
        return metadata.version("ytocc")
    except metadata.PackageNotFoundError:
        return "unknown"


def params_hash(params: Mapping[str, Any] | Any, upstream: list[str] | tuple[str, ...] = ()) -> str:
    """A stable hash of a stage's parameters chained with its upstream stages' hashes.

    Chaining makes a change upstream invalidate every stage downstream of it.
    """
    if hasattr(params, "model_dump"):
        params = params.model_dump(mode="json")
    payload = json.dumps(
        {"params": params, "upstream": list(upstream)}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class Marker:
    """What one stage did to one item."""

    stage: str
    item: str
    status: Status
    reason: str = ""
    params_hash: str = ""
    code_version: str = field(default_factory=code_version)
    backend: str | None = None
    weights: str | None = None
    wall_s: float = 0.0
    peak_mem_mb: float = 0.0
    started_at: str = ""
    finished_at: str = ""
    host: str = field(default_factory=socket.gethostname)
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def done(self, expected_hash: str | None = None) -> bool:
        """True when the stage need not run again (ok/skipped with a matching hash)."""
        if self.status == "failed":
            return False
        return expected_hash is None or self.params_hash == expected_hash

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_marker(path: str | os.PathLike[str], marker: Marker) -> Marker:
    """Atomically write `marker` to `path`."""
    write_json(path, marker.to_dict())
    return marker


def read_marker(path: str | os.PathLike[str]) -> Marker | None:
    """The marker at `path`, or None when the stage never finished there."""
    p = Path(path)
    if not p.exists():
        return None
    data = read_json(p)
    known = set(Marker.__dataclass_fields__)
    return Marker(**{k: v for k, v in data.items() if k in known})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _peak_mem_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS: process-wide peak resident memory.
    scale = 1 / 1024 if platform.system() != "Darwin" else 1 / 1024 / 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1)


@dataclass
class StageResult:
    """What a stage body returns: counts for the marker and the backend that produced it."""

    stats: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None
    weights: str | None = None


def run_stage(
    marker_path: str | os.PathLike[str],
    *,
    stage: str,
    item: str,
    phash: str,
    body: Callable[[], StageResult | dict[str, Any] | None],
    force: bool = False,
) -> Marker:
    """Run `body` unless its marker is done; record ok/skipped/failed with timing and memory.

    :class:`StageFailure` and :class:`StageSkip` become markers and return normally (one item
    ends, the run goes on). :class:`TransientError` propagates untouched so a flow can retry it.
    A full or read-only data folder returns a ``failed`` marker whose reason starts with
    :data:`storage.atomic.FOLDER_ERROR` (written when possible) so the flow can stop cleanly.
    Any other exception is recorded as ``failed`` with its type, message and traceback, then
    re-raised so the orchestrator shows it.
    """
    existing = read_marker(marker_path)
    if existing is not None and not force and existing.done(phash):
        return existing
    import time

    if existing is not None:  # outputs are about to be rewritten: the old marker must not count
        Path(marker_path).unlink(missing_ok=True)
    started = _now()
    t0 = time.perf_counter()
    marker = Marker(stage=stage, item=item, status="ok", params_hash=phash, started_at=started)

    def finish(status: Status, reason: str = "", stats: dict[str, Any] | None = None) -> Marker:
        marker.status = status
        marker.reason = reason
        marker.stats.update(stats or {})
        marker.wall_s = round(time.perf_counter() - t0, 3)
        marker.peak_mem_mb = _peak_mem_mb()
        marker.finished_at = _now()
        return write_marker(marker_path, marker)

    try:
        result = body()
    except StageSkip as e:
        return finish("skipped", e.reason, e.stats)
    except StageFailure as e:
        return finish("failed", e.reason, e.stats)
    except TransientError:
        raise
    except Exception as e:
        if (reason := folder_error(e)) is not None:
            with contextlib.suppress(OSError):  # the folder is full or read-only: record if we can
                return finish("failed", reason)
            return marker
        marker.error = traceback.format_exc(limit=20)
        finish("failed", f"{type(e).__name__}: {e}")
        raise
    if isinstance(result, StageResult):
        marker.backend, marker.weights = result.backend, result.weights
        return finish("ok", stats=result.stats)
    return finish("ok", stats=dict(result or {}))
