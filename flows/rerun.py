"""Re-running failed (or named) stages and everything downstream, from the data folder alone.

Targets come from the markers: per video or clip, its first ``failed`` stage (optionally only
those whose reason contains a text) or the stage a killed build left without a marker, or the
named stage. Their markers and every downstream marker are removed, then the build runs again
over the recorded sources and existing clips; finished work elsewhere is skipped by its markers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.build import build_tail
from flows.harvest import harvest_videos
from storage.config import load_config
from storage.ids import video_id_of_clip
from storage.layout import ALL_STAGES, CLIP_STAGES, VIDEO_STAGES, DataRoot, downstream_of
from storage.markers import read_marker
from tasks.download import read_source


def rerun_targets(root: DataRoot, stage: str | None = None, clips: list[str] | None = None,
                  reason: str | None = None) -> dict[str, str]:  # fmt: skip
    """Item id → the stage it must restart from."""
    if stage is not None and stage not in ALL_STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(ALL_STAGES)}")
    items = [(c, CLIP_STAGES) for c in (clips or root.clip_ids())]
    if not clips:
        items += [(v, VIDEO_STAGES) for v in root.video_ids()]
    targets: dict[str, str] = {}
    for item, stages in items:
        for s in stages:
            m = read_marker(root.marker(item, s))
            if m is None:  # never run, or interrupted (killed) after the stage before was ok
                if stage is None and reason is None and interrupted(root, item, s):
                    targets[item] = s
                break
            if m.status != "ok" and not stage:
                if m.status == "failed" and (reason or "") in m.reason:
                    targets[item] = s
                break
            if s == stage:
                targets[item] = s
                break
    return targets


def interrupted(root: DataRoot, item: str, stage: str) -> bool:
    """True when `stage` of `item` has no marker although its input is ready (a killed build)."""
    if stage == VIDEO_STAGES[0]:
        return root.source_json(item).exists()
    if stage == CLIP_STAGES[0]:
        return root.clip_json(item).exists()
    prev = ALL_STAGES[ALL_STAGES.index(stage) - 1]
    m = read_marker(root.marker(item, prev))
    return m is not None and m.status == "ok"


def clear_from(root: DataRoot, item: str, stage: str) -> int:
    """Remove the markers of `stage` and everything downstream for `item` (and its clips)."""
    later = downstream_of(stage)
    paths = [root.marker(item, s) for s in later if (s in VIDEO_STAGES) == (stage in VIDEO_STAGES)]
    if stage in VIDEO_STAGES:
        paths += [root.marker(c, s) for c in root.clip_ids(item) for s in CLIP_STAGES]
    gone = [p for p in paths if p.exists()]
    for p in gone:
        p.unlink()
    return len(gone)


@flow(name="rerun")
def rerun_flow(data: str | None = None, config: str | None = None, overrides: list[str] | None = None,
               stage: str | None = None, clips: list[str] | None = None, reason: str | None = None,
               dataset: str | None = "ytocc") -> dict[str, Any]:  # fmt: skip
    """Re-run what the markers say failed (or the named stage) and everything after it."""
    cfg = load_config(Path(config) if config else None, overrides or [], data)
    root = DataRoot.at(cfg.data)
    targets = rerun_targets(root, stage, clips, reason)
    log = get_run_logger()
    for item, s in targets.items():
        log.info("rerun %s from %s (%d markers cleared)", item, s, clear_from(root, item, s))
    videos = [read_source(root, v) for v, s in targets.items() if s in VIDEO_STAGES]
    done = harvest_videos(root, cfg, videos)
    clip_ids = sorted(
        {c for c in root.clip_ids() if c in targets or video_id_of_clip(c) in targets}
    )
    ended = [o for o in done.ended if o["clip"] not in clip_ids]
    out = build_tail(root, cfg, clip_ids, dataset, ended)
    return {"targets": targets, **out}
