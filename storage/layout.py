"""The data-root layout (see DESIGN.md): one place that knows where every file lives.

Ids are sanitised before they touch a path; nothing outside this module builds data paths.
Folders under ``videos/`` and ``clips/`` whose names are not valid ids (a stray
``copy of tour``) are skipped with a warning naming them. :meth:`DataRoot.inside` is the
guard every stage passes its folders through: a path that resolves outside the data root
(through a planted symlink) raises :class:`PathEscape` instead of being written or deleted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from storage.config import Config, load_config
from storage.graph import ALL_STAGES, CLIP_STAGES, VIDEO_STAGES, downstream_of
from storage.ids import sanitize_id
from storage.notices import warn

__all__ = ["ALL_STAGES", "CLIP_STAGES", "VIDEO_STAGES", "DataRoot", "PathEscape", "downstream_of"]

DATA_ENV = "YTOCC_DATA"
_warned: set[Path] = set()


class PathEscape(ValueError):
    """A path under the data root that resolves outside it (a symlink pointing out)."""


def _valid_ids(folder: Path, require: str | None = None) -> list[str]:
    """Names of the sub-folders of `folder` that are valid ids (others: one warning each)."""
    if not folder.is_dir():
        return []
    ids = []
    for p in folder.iterdir():
        if not p.is_dir() or (require is not None and not (p / require).exists()):
            continue
        try:
            ok = sanitize_id(p.name) == p.name
        except ValueError:
            ok = False
        if ok:
            ids.append(p.name)
        elif p not in _warned:
            _warned.add(p)
            warn("skipping %s: %r is not a valid id", p, p.name)
    return sorted(ids)


class DataRootError(ValueError):
    """A data root that names no folder (an empty ``--data`` or ``$YTOCC_DATA``)."""


def resolve_data_root(data: str | os.PathLike[str] | None = None) -> Path:
    """`data` if given, else ``$YTOCC_DATA``, else ``./data``; made absolute.

    An empty value is a :class:`DataRootError`, never the current folder.
    """
    chosen = data if data is not None else os.environ.get(DATA_ENV, "data")
    if not str(chosen).strip():
        if data is not None:
            raise DataRootError(f"--data is empty: give a folder, or leave --data out for "
                                f"${DATA_ENV} or ./data")  # fmt: skip
        raise DataRootError(f"${DATA_ENV} is empty: give a folder, or unset {DATA_ENV} for ./data")
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
        """Ids of the video folders (stray folders skipped with a warning)."""
        return _valid_ids(self.videos)

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
        """Ids of the clip folders holding a clip.json (stray folders skipped with a warning)."""
        ids = _valid_ids(self.clips, require="clip.json")
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
    def build_config(self) -> Path:
        """``config.yaml``: the effective config of the last build or rerun of this folder, the
        default of `status`, `dataset` and `rerun` (what is done depends on it)."""
        return self.root / "config.yaml"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def relative(self, path: Path) -> str:
        """`path` relative to the root, as stored in manifests and samples."""
        return self.inside(path).relative_to(self.root.resolve()).as_posix()

    def inside(self, path: str | os.PathLike[str]) -> Path:
        """`path` resolved (symlinks followed), or :class:`PathEscape` when that leaves the
        data root: what a stage writes, deletes or records must stay under the root."""
        base = self.root.resolve()
        resolved = (base / path).resolve()  # an absolute `path` replaces base
        if not resolved.is_relative_to(base):
            shown = (
                Path(path).relative_to(self.root) if Path(path).is_relative_to(self.root) else path
            )
            raise PathEscape(f"{shown} resolves outside the data root (to {resolved})")
        return resolved


def folder_config(
    config: str | os.PathLike[str] | None,
    overrides: list[str] | None,
    data: str | os.PathLike[str] | None,
) -> tuple[Config, Path | None]:
    """The config a command on a data folder works under, and the file it was read from.

    `config` when given; else the folder's ``config.yaml`` (the effective config of its last
    build or rerun) when it has one; else the defaults (file None). `overrides` apply on top.
    So a folder built once with a config keeps it: builds, re-runs, single stages, status and
    the dataset freeze all judge "done" as that build did. Raises ConfigError, DataRootError.
    """
    cfg = load_config(config, overrides or [], data)
    if config is not None:
        return cfg, Path(config)
    saved = DataRoot.at(cfg.data).build_config
    if saved.is_file():
        return load_config(saved, overrides or [], data), saved
    return cfg, None
