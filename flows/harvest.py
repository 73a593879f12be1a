"""The harvest flow: sources → download → shots → frames, one failure ending only its item.

Stage functions live in ``tasks/``; this module only composes them with Prefect. Markers
decide what is done, so a second run re-does nothing that finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.futures import wait

from flows.outcomes import outcome
from storage.config import Config
from storage.ids import id_from_url
from storage.layout import DataRoot, folder_config
from storage.locks import item_lock, lock_holder, waiting_lock
from storage.manifest import status_table, summary_text, write_manifests
from storage.markers import Marker, write_marker
from tasks.download import download_task
from tasks.frames import frames_task
from tasks.shots import shots_task
from tasks.sources import VideoSource, expand_sources


@task(name="harvest-video")
def harvest_video(
    root: DataRoot, cfg: Config, source: VideoSource
) -> tuple[list[str], dict[str, Any] | None]:
    """Download and cut one video; its clip ids, and where it ended when that was early.

    A second build on the same folder waits for the first to finish the video, then skips it.
    """
    vid = source.video_id
    with waiting_lock(root.locks / "videos" / f"{vid}.lock"):
        marker = download_task(root, cfg, source)
        if marker.status == "ok":
            marker = shots_task(root, cfg, vid)
    if marker.status != "ok":
        return [], outcome(vid, marker.stage, marker.status, marker.reason)
    return root.clip_ids(vid), None


@task(name="clip-frames")
def clip_frames(root: DataRoot, cfg: Config, clip: str) -> Marker | None:
    """Sample a clip's frames under its lock; None when another build holds the clip."""
    with item_lock(root.locks / f"{clip}.lock") as got:
        return frames_task(root, cfg, clip) if got else None


def record_source_error(root: DataRoot, spec: str, reason: str) -> str:
    """Give a source that failed before any id was known a failed download marker; its id."""
    vid = id_from_url(spec)
    write_marker(root.video_marker(vid, "download"), Marker("download", vid, "failed", reason))
    return vid


@dataclass
class Harvested:
    """What a harvest made of its sources: clips with frames, clips another build holds, and
    where every source, video or clip that ended early ended."""

    clips: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    ended: list[dict[str, Any]] = field(default_factory=list)

    def outcomes(self, root: DataRoot) -> list[dict[str, Any]]:
        """Every item that did not end ok (refused sources first), the locked clips named with
        their holder."""
        held = [outcome(c, "frames", "locked", f"held by another build ({lock_holder(root.locks / f'{c}.lock')})")
                for c in self.locked]  # fmt: skip
        return self.refused + self.ended + held


def expand(
    root: DataRoot, cfg: Config, sources: list[str]
) -> tuple[list[VideoSource], list[dict[str, Any]]]:
    """The videos of `sources`; each source item that names none gets a failed marker and an
    outcome (its reason naming the file, line or URL)."""
    log = get_run_logger()
    videos, errors = expand_sources(sources, cfg.download)
    refused = []
    for item, reason in errors:
        log.error("source %s", reason)
        refused.append(outcome(record_source_error(root, item, reason), None, "failed", reason))
    log.info("harvest: %d videos from %d sources", len(videos), len(sources))
    return videos, refused


def harvest(root: DataRoot, cfg: Config, sources: list[str]) -> Harvested:
    """Run the harvest stages over `sources` (inside a flow)."""
    videos, refused = expand(root, cfg, sources)
    done = harvest_videos(root, cfg, videos)
    done.refused = refused
    return done


def harvest_videos(root: DataRoot, cfg: Config, videos: list[VideoSource]) -> Harvested:
    """Download, cut and sample frames of `videos`."""
    log = get_run_logger()
    futures = [harvest_video.submit(root, cfg, v) for v in videos]
    wait(futures)
    out, clips = Harvested(), []
    for v, f in zip(videos, futures, strict=True):
        result = f.state.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            log.error("video %s: %s", v.video_id, result)
            out.ended.append(
                outcome(v.video_id, None, "failed", f"{type(result).__name__}: {result}")
            )
        else:
            clips += result[0]
            out.ended += [result[1]] if result[1] else []
    frame_futures = [clip_frames.submit(root, cfg, c) for c in clips]
    wait(frame_futures)
    for c, f in zip(clips, frame_futures, strict=True):
        m = f.state.result(raise_on_failure=False)
        if m is None:
            out.locked.append(c)
        elif isinstance(m, BaseException):
            out.ended.append(outcome(c, "frames", "failed", f"{type(m).__name__}: {m}"))
        elif m.status == "ok":
            out.clips.append(c)
        else:
            out.ended.append(outcome(c, "frames", m.status, m.reason))
    log.info("harvest: %d of %d clips have frames", len(out.clips), len(clips))
    return out


@flow(name="harvest")
def harvest_flow(
    sources: list[str],
    data: str | None = None,
    config: str | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Harvest `sources` into the data root; return the ready clips and the status table."""
    cfg = folder_config(config, overrides, data)[0]
    root = DataRoot.at(cfg.data)
    done = harvest(root, cfg, sources)
    write_manifests(root)
    table = status_table(root, cfg)
    get_run_logger().info("status:\n%s", summary_text(table))
    return {"clips": done.clips, "ended": done.outcomes(root),
            "source_errors": [o["reason"] for o in done.refused],
            "status": table.to_dict(orient="records")}  # fmt: skip
