"""Stage markers: the source of truth for what ran, how it ended (ok, skipped, failed) and why.

A marker is written last, after a stage's outputs. It records the stage's key
(``params_hash``: its own parameters, the chosen backend's, its code version and the keys of the
stages it reads), a fingerprint of each upstream marker it read (``inputs``), and the size and
mtime of every file it wrote (``outputs``, relative to the data root). Whether a stage is
*done* is decided from these by one predicate, :func:`storage.stages.Ledger.state`.

An unreadable marker (truncated, not an object, missing fields, an unknown status) never
crashes a reader: :func:`load_marker` says what is wrong with it and :func:`read_marker` warns,
naming the file, and treats it as absent (not done).
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
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from storage.atomic import folder_error, read_json, write_json
from storage.notices import warn

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
    """The installed ytocc version (informational; a stage's own ``version`` in the graph is
    what its key hashes)."""
    try:
        return metadata.version("ytocc")
    except metadata.PackageNotFoundError:
        return "unknown"


def params_hash(params: Mapping[str, Any], upstream: list[str] | tuple[str, ...] = ()) -> str:
    """A stable hash of a stage's parameters (a JSON-able mapping; other values hash by their
    ``str``) chained with its upstream stages' keys. Chaining makes a change upstream invalidate
    every stage downstream.
    """
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
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    """This run's id (a re-run with the same key and outputs still changes the fingerprint)."""
    inputs: dict[str, str] = field(default_factory=dict)
    """Upstream stage → :meth:`fingerprint` of its marker when this stage ran."""
    outputs: dict[str, list[int]] = field(default_factory=dict)
    """File written (relative to the data root) → [size in bytes, mtime in ns]."""

    def fingerprint(self) -> str:
        """Identifies this run of the stage: its key, when it finished and what it wrote.

        A stage that read this one records it; when this stage re-runs, the readers are stale.
        """
        key = (self.params_hash, self.run, self.status, len(self.outputs))
        if getattr(self, "_fingerprint", (None,))[0] != key:  # computed once per marker read
            payload = json.dumps([self.params_hash, self.run, self.status, self.outputs],
                                 sort_keys=True)  # fmt: skip
            self._fingerprint = (key, hashlib.sha256(payload.encode()).hexdigest()[:16])
        return self._fingerprint[1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_marker(path: str | os.PathLike[str], marker: Marker) -> Marker:
    """Atomically write `marker` to `path`."""
    write_json(path, marker.to_dict())
    return marker


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "stage": str, "item": str, "status": str, "reason": str, "params_hash": str,
    "wall_s": (int, float), "peak_mem_mb": (int, float), "stats": dict, "inputs": dict,
    "outputs": dict, "finished_at": str, "run": str,
}  # fmt: skip


def load_marker(path: str | os.PathLike[str]) -> tuple[Marker | None, str | None]:
    """(marker, None), (None, None) when there is none, or (None, what is wrong with it)."""
    p = Path(path)
    try:
        data = read_json(p)
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as e:  # truncated, not UTF-8, not JSON, a folder
        return None, f"unreadable ({type(e).__name__}: {str(e)[:80]})"
    if not isinstance(data, dict):
        return None, f"holds a JSON {type(data).__name__}, not an object"
    missing = [k for k in ("stage", "item", "status") if k not in data]
    if missing:
        return None, f"lacks {', '.join(missing)}"
    bad = [k for k, t in _FIELD_TYPES.items() if k in data and not isinstance(data[k], t)]
    if bad:
        return None, f"has fields of the wrong type ({', '.join(bad)})"
    if data["status"] not in STATUSES:
        return None, f"has unknown status {data['status']!r}"
    if any(not (isinstance(v, list) and len(v) == 2) for v in data.get("outputs", {}).values()):
        return None, "has malformed outputs"
    known = set(Marker.__dataclass_fields__)
    return Marker(**{k: v for k, v in data.items() if k in known}), None


def read_marker(path: str | os.PathLike[str]) -> Marker | None:
    """The marker at `path`; None when the stage never finished there or its marker is
    unreadable (then a warning names the file: the stage counts as not done)."""
    marker, problem = load_marker(path)
    if problem is not None:
        warn("ignoring marker %s: %s", path, problem)
    return marker


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
    inputs: dict[str, str] | None = None,
    outputs: Callable[[], dict[str, list[int]]] | None = None,
    force: bool = False,
) -> Marker:
    """Run `body`; record ok/skipped/failed with timing, memory, `inputs` and `outputs()`.

    Without `force`, an ok/skipped marker with the same `phash` is returned as is; the build
    decides with the full predicate (:meth:`storage.stages.Ledger.state`) and passes `force`.
    The old marker is removed first, so outputs being rewritten never count. `outputs` lists what the
    stage left on disk once `body` returns.
    :class:`StageFailure` and :class:`StageSkip` become markers and return normally (one item
    ends, the run goes on). :class:`TransientError` propagates untouched so a flow can retry it.
    A full or read-only data folder returns a ``failed`` marker whose reason starts with
    :data:`storage.atomic.FOLDER_ERROR` (written when possible) so the flow can stop cleanly.
    Any other exception is recorded as ``failed`` with its type, message and traceback, then
    re-raised so the orchestrator shows it.
    """
    import time

    existing = read_marker(marker_path)
    done = existing is not None and existing.status != "failed" and existing.params_hash == phash
    if done and not force:  # callers that judge "done" themselves (the ledger) pass force
        return existing  # type: ignore[return-value]
    Path(marker_path).unlink(missing_ok=True)
    started = _now()
    t0 = time.perf_counter()
    marker = Marker(stage=stage, item=item, status="ok", params_hash=phash, started_at=started,
                    inputs=dict(inputs or {}))  # fmt: skip

    def finish(status: Status, reason: str = "", stats: dict[str, Any] | None = None) -> Marker:
        if outputs is not None and status != "failed":
            marker.outputs = outputs()
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
