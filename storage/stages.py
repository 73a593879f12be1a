"""Running one stage on one item with markers: the glue every ``tasks/`` module uses.

A stage's parameter hash is its config section chained with the hash of the stage before it
(for the first clip stage, the video's ``shots``), so a changed parameter invalidates exactly
the stages it affects. Prefect never appears here: flows call these through thin tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from storage.config import Config
from storage.ids import video_id_of_clip
from storage.layout import ALL_STAGES, CLIP_STAGES, DataRoot
from storage.markers import Marker, StageResult, params_hash, read_marker, run_stage


@dataclass(frozen=True)
class Output:
    """One output of a stage: a glob under the item's folder and the format it holds."""

    pattern: str
    format: str
    required: bool = True


@dataclass(frozen=True)
class Stage:
    """One stage of the graph (see :data:`GRAPH`)."""

    name: str
    kind: Literal["video", "clip"]
    reads: tuple[str, ...]
    section: str
    outputs: tuple[Output, ...] = ()
    registry: str | None = None
    version: int = 1


STAGES: tuple[Stage, ...] = (
    Stage("download", "video", (), "download", (Output("video.mp4", "video"), Output("info.json", "json", False))),
    Stage("shots", "video", ("download",), "shots"),
    Stage("frames", "clip", ("shots",), "frames", (Output("frames/[0-9]*.jpg", "jpeg"), Output("frames/index.json", "frames-index"))),
    Stage("indoor", "clip", ("frames",), "indoor", (), "models.scene:SCENE_CLASSIFIERS"),
    Stage("reconstruct", "clip", ("frames",), "reconstruct", (Output("recon.npz", "recon"),), "models.reconstructors:RECONSTRUCTORS"),
    Stage("clean", "clip", ("reconstruct",), "clean", (Output("cloud.npz", "cloud"),)),
    Stage("align", "clip", ("clean",), "align", (Output("align.json", "align"),)),
    Stage("segment", "clip", ("frames",), "segment", (Output("segments/[0-9]*.npz", "segment"),), "models.segmenters:SEGMENTERS"),
    Stage("voxelize", "clip", ("reconstruct", "clean", "align", "segment"), "voxelize", (Output("occ/[0-9]*.npz", "sample"),)),
)  # fmt: skip
GRAPH: dict[str, Stage] = {s.name: s for s in STAGES}


class UpstreamNotDone(RuntimeError):
    """A stage was asked to run before the stage it reads from finished ``ok``."""


def upstream_of(item_id: str, stage: str) -> tuple[str, str] | None:
    """(item id, stage) whose output `stage` reads, or None for the first stage."""
    i = ALL_STAGES.index(stage)
    if i == 0:
        return None
    prev = ALL_STAGES[i - 1]
    if stage == CLIP_STAGES[0]:
        return video_id_of_clip(item_id), prev
    return item_id, prev


def upstream_marker(root: DataRoot, item_id: str, stage: str) -> Marker | None:
    up = upstream_of(item_id, stage)
    return None if up is None else read_marker(root.marker(*up))


def stage_hash(root: DataRoot, cfg: Config, item_id: str, stage: str) -> str:
    """The hash `stage` of `item_id` must carry to count as done under `cfg`."""
    up = upstream_marker(root, item_id, stage)
    chain = [up.params_hash] if up is not None else []
    return params_hash(cfg.section(_section_name(stage)), chain)


def _section_name(stage: str) -> str:
    return {"download": "download", "shots": "shots"}.get(stage, stage)


def is_done(root: DataRoot, cfg: Config, item_id: str, stage: str) -> bool:
    """True when `stage` of `item_id` is ok/skipped under the current parameters."""
    m = read_marker(root.marker(item_id, stage))
    return m is not None and m.done(stage_hash(root, cfg, item_id, stage))


def run_item_stage(
    root: DataRoot,
    cfg: Config,
    item_id: str,
    stage: str,
    body: Callable[[], StageResult | dict[str, Any] | None],
    *,
    force: bool = False,
) -> Marker:
    """Run `stage` for `item_id` (a video id or clip id) unless done; return its marker.

    Raises :class:`UpstreamNotDone` when the stage it reads from is not ``ok``: the caller
    stops that item there (its upstream marker already says why).
    """
    up = upstream_of(item_id, stage)
    if up is not None:
        m = read_marker(root.marker(*up))
        if m is None or m.status != "ok":
            state = "missing" if m is None else f"{m.status}: {m.reason}"
            raise UpstreamNotDone(f"{stage} of {item_id} needs {up[1]} of {up[0]} ({state})")
    return run_stage(
        root.marker(item_id, stage),
        stage=stage,
        item=item_id,
        phash=stage_hash(root, cfg, item_id, stage),
        body=body,
        force=force,
    )
