"""Stage keys, the one "done" predicate, and running one stage of one item with its marker.

A stage of an item is **done** iff

1. its marker is readable and says ``ok`` (or ``skipped``, with its reason),
2. its key matches: a hash of its section's parameters (only the chosen backend's, see
   :meth:`storage.config.Section.key_params`), its code ``version`` and the keys of the stages
   it reads (:func:`stage_keys`; config alone decides keys, no marker is read),
3. every stage it reads is done *and* is the very run it read (the upstream marker's
   fingerprint equals the one recorded in ``inputs``: an upstream that re-ran makes it stale),
4. every file it recorded in ``outputs`` is still there, inside the data root, with the
   recorded size and mtime (a stat per file, nothing is re-read).

:class:`Ledger` answers that (:meth:`Ledger.state`) with the reason when not, memoised per
item; build, rerun, status, the report and the dataset freeze all ask it. Prefect never appears
here: flows call these through thin tasks.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from storage.atomic import TMP_PREFIX
from storage.config import Config
from storage.graph import CLIP_STAGES, GRAPH, STAGES, VIDEO_STAGES, Stage, stage
from storage.ids import video_id_of_clip
from storage.layout import DataRoot, PathEscape
from storage.markers import Marker, StageResult, load_marker, params_hash, run_stage
from storage.notices import warn

__all__ = ["GRAPH", "Ledger", "StageState", "UpstreamNotDone", "run_item_stage", "stage_keys"]

State = Literal["ok", "skipped", "failed", "stale", "missing"]
DONE: tuple[str, ...] = ("ok", "skipped")


class UpstreamNotDone(RuntimeError):
    """A stage was asked to run before the stages it reads are done."""


@dataclass(frozen=True)
class StageState:
    """What the predicate says of one stage of one item: `state` and, unless ok, why."""

    item: str
    stage: str
    state: State
    why: str = ""
    marker: Marker | None = None

    @property
    def done(self) -> bool:
        return self.state in DONE


def stage_keys(cfg: Config) -> dict[str, str]:
    """Every stage's key under `cfg`: own parameters (chosen backend only), code version, and
    the keys of the stages it reads."""
    keys: dict[str, str] = {}
    for s in STAGES:
        params = {"section": cfg.section(s.section).key_params(), "version": s.version}
        keys[s.name] = params_hash(params, [keys[r] for r in s.reads])
    return keys


def upstream_item(item: str, s: Stage, up: str) -> str:
    """The item whose `up` stage `s` of `item` reads (a clip's video for video stages)."""
    return video_id_of_clip(item) if s.kind == "clip" and GRAPH[up].kind == "video" else item


def stages_of(item_kind: str) -> tuple[str, ...]:
    return CLIP_STAGES if item_kind == "clip" else VIDEO_STAGES


class Ledger:
    """The done predicate over one data root under one config, memoised per (item, stage).

    Call :meth:`forget` for an item after running any of its stages.
    """

    def __init__(self, root: DataRoot, cfg: Config) -> None:
        self.root = root
        self.keys = stage_keys(cfg)
        self._states: dict[tuple[str, str], StageState] = {}
        self._base = root.root.resolve()
        self._base_str = str(self._base)
        self._dirs: dict[str, bool] = {}

    def forget(self, item: str) -> None:
        """Drop what is known of `item` (and of its clips, for a video) after it ran."""
        for k in [k for k in self._states if k[0] == item or k[0].startswith(f"{item}-")]:
            del self._states[k]

    def state(self, item: str, name: str) -> StageState:
        """Whether stage `name` of `item` is done, and why not (see the module docstring)."""
        key = (item, name)
        if key not in self._states:
            self._states[key] = self._state(item, stage(name))
        return self._states[key]

    def states(self, item: str, kind: str = "clip") -> dict[str, StageState]:
        """Every stage of `item` (a clip, or a video with ``kind="video"``)."""
        return {s: self.state(item, s) for s in stages_of(kind)}

    def clip_ok(self, clip: str) -> bool:
        """True when every stage of `clip` is ``ok`` (what the dataset may freeze)."""
        return all(st.state == "ok" for st in self.states(clip).values())

    def _state(self, item: str, s: Stage) -> StageState:
        try:
            path = self.root.marker(item, s.name)
        except ValueError as e:
            return StageState(item, s.name, "missing", str(e))
        marker, problem = load_marker(path)
        if problem is not None:
            warn("ignoring marker %s: %s", path, problem)
            return StageState(item, s.name, "missing", f"marker {problem}")
        if marker is None:
            return StageState(item, s.name, "missing", "not run")
        if marker.status == "failed":
            return StageState(item, s.name, "failed", marker.reason, marker)
        if marker.params_hash != self.keys[s.name]:
            why = "parameters, backend or code version changed since it ran"
            return StageState(item, s.name, "stale", why, marker)
        for up in s.reads:
            up_state = self.state(upstream_item(item, s, up), up)
            if not up_state.done:
                why = f"reads {up}, which is {up_state.state}"
                return StageState(item, s.name, "stale", why, marker)
            if marker.inputs.get(up) != up_state.marker.fingerprint():  # type: ignore[union-attr]
                return StageState(item, s.name, "stale", f"{up} re-ran since", marker)
        if (changed := self._changed_output(marker)) is not None:
            return StageState(item, s.name, "stale", changed, marker)
        return StageState(item, s.name, marker.status, marker.reason, marker)  # type: ignore[arg-type]

    def _changed_output(self, marker: Marker) -> str | None:
        base = self._base_str
        for rel, (size, mtime) in marker.outputs.items():
            path = f"{base}/{rel}"  # strings, not pathlib: thousands per status
            try:
                st = os.lstat(path)  # one syscall; a link (rare) is resolved below
                link = stat.S_ISLNK(st.st_mode)
                if not self._inside_dir(os.path.dirname(path)) or (
                    link and not Path(path).resolve().is_relative_to(self._base)
                ):
                    return f"output {rel} resolves outside the data root"
                if link:
                    st = os.stat(path)
            except OSError:
                return f"output {rel} is missing"
            if st.st_size != size or st.st_mtime_ns != mtime:
                return f"output {rel} changed since it was written"
        return None

    def _inside_dir(self, folder: str) -> bool:
        """Whether `folder` resolves inside the data root (memoised: one realpath per folder)."""
        if folder not in self._dirs:
            self._dirs[folder] = Path(os.path.realpath(folder)).is_relative_to(self._base)
        return self._dirs[folder]

    def inputs(self, item: str, s: Stage) -> dict[str, str]:
        """Fingerprints of the upstream markers `s` of `item` reads (all ok), or
        :class:`UpstreamNotDone` naming the first that is not."""
        out = {}
        for up in s.reads:
            up_item = upstream_item(item, s, up)
            st = self.state(up_item, up)
            if st.state != "ok" or st.marker is None:  # skipped ends the item there
                state = "missing" if st.why == "not run" else f"{st.state}: {st.why}"
                raise UpstreamNotDone(f"{s.name} of {item} needs {up} of {up_item} ({state})")
            out[up] = st.marker.fingerprint()
        return out

    def output_files(self, item: str, s: Stage) -> dict[str, list[int]]:
        """What `s` of `item` has on disk now: relative path → [size, mtime_ns]."""
        found: dict[str, list[int]] = {}
        for out in s.outputs:
            for path in self._base.glob(out.pattern.format(item=item)):
                if path.name.startswith(TMP_PREFIX) or not path.is_file():
                    continue
                st = path.stat()
                found[path.relative_to(self._base).as_posix()] = [st.st_size, st.st_mtime_ns]
        return found

    def guard(self, item: str, s: Stage) -> None:
        """:class:`PathEscape` when the item's folder, its ``stages/`` or a folder `s` writes
        resolves outside the data root (a planted symlink): nothing is then touched."""
        marker = self.root.marker(item, s.name)
        folders = {marker.parent.parent, marker.parent}
        for out in s.outputs:
            parent = Path(out.pattern.format(item=item)).parent
            if not any(c in str(parent) for c in "*?["):  # a folder of this item's own
                folders.add(self.root.root / parent)
        for folder in sorted(folders):
            self.root.inside(folder)


def run_item_stage(
    root: DataRoot,
    cfg: Config,
    item_id: str,
    name: str,
    body: Callable[[], StageResult | dict[str, Any] | None],
    *,
    force: bool = False,
    ledger: Ledger | None = None,
) -> Marker:
    """Run stage `name` for `item_id` (a video id or clip id) unless done; return its marker.

    Raises :class:`UpstreamNotDone` when a stage it reads is not done: the caller stops that
    item there (the upstream state says why). A folder of the stage that resolves outside the
    data root fails the stage with that reason and touches nothing.
    """
    ledger = ledger or Ledger(root, cfg)
    s = stage(name)
    current = ledger.state(item_id, name)
    if current.done and not force:
        return current.marker  # type: ignore[return-value]
    inputs = ledger.inputs(item_id, s)
    marker_path = root.marker(item_id, name)
    try:
        ledger.guard(item_id, s)
    except PathEscape as e:
        ledger.forget(item_id)
        failed = Marker(name, item_id, "failed", str(e), params_hash=ledger.keys[name])
        try:
            root.inside(marker_path.parent)
        except PathEscape:
            return failed  # its stages/ folder itself points out: nothing is written
        Path(marker_path).unlink(missing_ok=True)
        from storage.markers import write_marker

        return write_marker(marker_path, failed)
    try:
        return run_stage(
            marker_path,
            stage=name,
            item=item_id,
            phash=ledger.keys[name],
            body=body,
            inputs=inputs,
            outputs=lambda: ledger.output_files(item_id, s),
            force=True,  # the ledger decided
        )
    finally:
        ledger.forget(item_id)


def clear_markers(root: DataRoot, item: str, names: tuple[str, ...]) -> int:
    """Remove the markers of stages `names` of `item` (inside the data root only); how many."""
    gone = 0
    for name in names:
        path = root.marker(item, name)
        try:
            root.inside(path.parent)
        except PathEscape as e:
            warn("not clearing %s: %s", path, e)
            continue
        if os.path.lexists(path):
            path.unlink()
            gone += 1
    return gone


def is_done(root: DataRoot, cfg: Config, item_id: str, name: str) -> bool:
    """True when stage `name` of `item_id` is done under `cfg` (one-off :class:`Ledger` query)."""
    return Ledger(root, cfg).state(item_id, name).done
