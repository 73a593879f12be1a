"""The harvest flow: sources → download → shots → frames, one failure ending only its item.

Stage functions live in ``tasks/``; this module only composes them with Prefect. Markers
decide what is done, so a second run re-does nothing that finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.futures import wait

from storage.config import Config, load_config
from storage.ids import id_from_url
from storage.layout import DataRoot
from storage.locks import item_lock, waiting_lock
from storage.manifest import status_table, write_manifests
from storage.markers import Marker, write_marker
from tasks.download import download_task
from tasks.frames import frames_task
from tasks.shots import shots_task
from tasks.sources import VideoSource, expand_sources


@task(name="harvest-video")
def harvest_video(root: DataRoot, cfg: Config, source: VideoSource) -> list[str]:
    """Download and cut one video; return its clip ids (empty when it ended early).

    A second build on the same folder waits for the first to finish the video, then skips it.
    """
    with waiting_lock(root.locks / "videos" / f"{source.video_id}.lock"):
        if download_task(root, cfg, source).status != "ok":
            return []
        if shots_task(root, cfg, source.video_id).status != "ok":
            return []
    return root.clip_ids(source.video_id)


@task(name="clip-frames")
def clip_frames(root: DataRoot, cfg: Config, clip: str) -> Marker | None:
    """Sample a clip's frames under its lock; None when another build holds the clip."""
    with item_lock(root.locks / f"{clip}.lock") as got:
        return frames_task(root, cfg, clip) if got else None


def record_source_error(root: DataRoot, spec: str, reason: str) -> None:
    """Give a source that failed before any id was known a failed download marker."""
    vid = id_from_url(spec)
    write_marker(root.video_marker(vid, "download"), Marker("download", vid, "failed", reason))


def ok(future: Any) -> bool:
    """True when a stage task's future ended with an ``ok`` marker."""
    result = future.state.result(raise_on_failure=False)
    return isinstance(result, Marker) and result.status == "ok"


def expand(root: DataRoot, cfg: Config, sources: list[str]) -> tuple[list[VideoSource], list[str]]:
    """The videos of `sources`; each source item that names none gets a failed marker and is
    returned as one line (its reason, naming the file, line or URL)."""
    log = get_run_logger()
    videos, errors = expand_sources(sources, cfg.download)
    for item, reason in errors:
        log.error("source %s", reason)
        record_source_error(root, item, reason)
    log.info("harvest: %d videos from %d sources", len(videos), len(sources))
    return videos, [reason for _, reason in errors]


def harvest(root: DataRoot, cfg: Config, sources: list[str]) -> list[str]:
    """Run the harvest stages over `sources` (inside a flow); return the clips with frames."""
    return harvest_videos(root, cfg, expand(root, cfg, sources)[0])


def harvest_videos(root: DataRoot, cfg: Config, videos: list[VideoSource]) -> list[str]:
    """Download, cut and sample frames of `videos`; return the clips with frames."""
    log = get_run_logger()
    futures = [harvest_video.submit(root, cfg, v) for v in videos]
    wait(futures)
    clips: list[str] = []
    for v, f in zip(videos, futures, strict=True):
        result = f.state.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            log.error("video %s: %s", v.video_id, result)
        else:
            clips += result
    frame_futures = [clip_frames.submit(root, cfg, c) for c in clips]
    wait(frame_futures)
    done = [c for c, f in zip(clips, frame_futures, strict=True) if ok(f)]
    log.info("harvest: %d of %d clips have frames", len(done), len(clips))
    return done


def summary_text(table: pd.DataFrame) -> str:
    """Items × stages with reasons, as printed at the end of a run."""
    if table.empty:
        return "nothing harvested"
    return table.fillna("").to_string(index=False, max_colwidth=60)


@flow(name="harvest")
def harvest_flow(
    sources: list[str],
    data: str | None = None,
    config: str | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Harvest `sources` into the data root; return the ready clips and the status table."""
    cfg = load_config(Path(config) if config else None, overrides or [], data)
    root = DataRoot.at(cfg.data)
    videos, errors = expand(root, cfg, sources)
    clips = harvest_videos(root, cfg, videos)
    write_manifests(root)
    table = status_table(root)
    get_run_logger().info("status:\n%s", summary_text(table))
    return {"clips": clips, "status": table.to_dict(orient="records"), "source_errors": errors}
