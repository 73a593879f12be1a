"""The data-root layout (see DESIGN.md): one place that knows where every file lives.

Ids are sanitised before they touch a path; nothing outside this module builds data paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from storage.ids import sanitize_id

DATA_ENV = "YTOCC_DATA"

VIDEO_STAGES: tuple[str, ...] = ("download", "shots")
"""Stages whose markers live in ``videos/{video_id}/stages/``, in run order."""

CLIP_STAGES: tuple[str, ...] = (
    "frames",
    "indoor",
    "reconstruct",
    "clean",
    "align",
    "segment",
    "voxelize",
)
"""Stages whose markers live in ``clips/{clip_id}/stages/``, in run order."""

ALL_STAGES: tuple[str, ...] = VIDEO_STAGES + CLIP_STAGES


def downstream_of(stage: str) -> tuple[str, ...]:
    """`stage` and every stage after it (what must re-run when `stage` changes)."""
    return ALL_STAGES[ALL_STAGES.index(stage) :]


class DataRootError(ValueError):
    """A data root that names no folder (an empty ``--data`` or ``$YTOCC_DATA``)."""


def resolve_data_root(data: str | os.PathLike[str] | None = None) -> Path:
    """`data` if given, else ``$YTOCC_DATA``, else ``./data``; made absolute.

    An empty value is a :class:`DataRootError`, never the current folder.
    """
    chosen = data if data is not None else os.environ.get(DATA_ENV, "data")
    if not str(chosen).strip():
        where = "--data" if data is not None else f"${DATA_ENV}"
        raise DataRootError(f"{where} is empty: give a folder, or unset {DATA_ENV} for ./data")
    return Path(chosen).expanduser().resolve()


def _safe(id_: str) -> str:
    safe = sanitize_id(id_)
    if safe != id_:
        raise ValueError(f"id {id_!r} is not sanitised (expected {safe!r})")
    return safe


@dataclass(frozen=True)
class DataRoot:
    """Paths inside one data root."""

    root: Path

    @classmethod
    def at(cls, data: str | os.PathLike[str] | None = None) -> DataRoot:
        return cls(resolve_data_root(data))

    # videos --------------------------------------------------------------
    @property
    def videos(self) -> Path:
        return self.root / "videos"

    def video_dir(self, video_id: str) -> Path:
        return self.videos / _safe(video_id)

    def video_file(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "video.mp4"

    def info_json(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "info.json"

    def source_json(self, video_id: str) -> Path:
        """Where the video came from (URL or local path, RealEstate10K clip spans)."""
        return self.video_dir(video_id) / "source.json"

    def video_marker(self, video_id: str, stage: str) -> Path:
        return self.video_dir(video_id) / "stages" / f"{stage}.json"

    @property
    def download_archive(self) -> Path:
        """yt-dlp's download archive: finished videos a nightly re-run skips."""
        return self.videos / "archive.txt"

    def video_ids(self) -> list[str]:
        return (
            sorted(p.name for p in self.videos.glob("*") if p.is_dir())
            if self.videos.exists()
            else []
        )

    # clips ---------------------------------------------------------------
    @property
    def clips(self) -> Path:
        return self.root / "clips"

    def clip_dir(self, clip_id: str) -> Path:
        return self.clips / _safe(clip_id)

    def clip_json(self, clip_id: str) -> Path:
        return self.clip_dir(clip_id) / "clip.json"

    def frames_dir(self, clip_id: str) -> Path:
        return self.clip_dir(clip_id) / "frames"

    def frame_path(self, clip_id: str, k: int) -> Path:
        return self.frames_dir(clip_id) / f"{k:04d}.jpg"

    def frames_index(self, clip_id: str) -> Path:
        """``frames/index.json``: the source video frame index of each sampled frame k, and size."""
        return self.frames_dir(clip_id) / "index.json"

    def recon_npz(self, clip_id: str) -> Path:
        return self.clip_dir(clip_id) / "recon.npz"

    def cloud_npz(self, clip_id: str) -> Path:
        return self.clip_dir(clip_id) / "cloud.npz"

    def align_json(self, clip_id: str) -> Path:
        return self.clip_dir(clip_id) / "align.json"

    def segments_dir(self, clip_id: str) -> Path:
        """Per-frame segmenter output: ``{k:04d}.npz`` with ``labels`` and ``regions``."""
        return self.clip_dir(clip_id) / "segments"

    def segment_path(self, clip_id: str, k: int) -> Path:
        return self.segments_dir(clip_id) / f"{k:04d}.npz"

    def occ_dir(self, clip_id: str) -> Path:
        return self.clip_dir(clip_id) / "occ"

    def occ_path(self, clip_id: str, k: int) -> Path:
        return self.occ_dir(clip_id) / f"{k:04d}.npz"

    def clip_marker(self, clip_id: str, stage: str) -> Path:
        return self.clip_dir(clip_id) / "stages" / f"{stage}.json"

    def clip_ids(self, video_id: str | None = None) -> list[str]:
        if not self.clips.exists():
            return []
        ids = sorted(p.name for p in self.clips.glob("*") if (p / "clip.json").exists())
        if video_id is not None:
            prefix = _safe(video_id) + "-"
            ids = [c for c in ids if c.startswith(prefix) and c[len(prefix) :].isdigit()]
        return ids

    def marker(self, item_id: str, stage: str) -> Path:
        """The marker of `stage` for a video id (video stages) or a clip id (clip stages)."""
        if stage in VIDEO_STAGES:
            return self.video_marker(item_id, stage)
        if stage in CLIP_STAGES:
            return self.clip_marker(item_id, stage)
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(ALL_STAGES)}")

    # derived ---------------------------------------------------------------
    @property
    def manifest(self) -> Path:
        return self.root / "manifest"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    def dataset_dir(self, name: str) -> Path:
        return self.datasets / _safe(name)

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def relative(self, path: Path) -> str:
        """`path` relative to the root, as stored in manifests and samples."""
        return Path(path).resolve().relative_to(self.root).as_posix()
