"""File formats shared by stages: clip.json, recon.npz, cloud.npz, segments, occupancy samples.

Readers validate keys, dtypes and shapes and raise :class:`FormatError` naming the file, so a
bad file is reported where it is, not three stages later.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from storage.atomic import read_json, read_npz, write_json, write_npz

CLASS_NAMES: tuple[str, ...] = (
    "ceiling", "floor", "wall", "window", "chair", "bed",
    "sofa", "table", "tvs", "furniture", "objects",
)  # fmt: skip
"""NYU-11 class names; class id = index + 1."""
NUM_CLASSES = len(CLASS_NAMES)
FREE = 0
UNKNOWN = 255
OCCUPIED = 254
"""Occupied, class unknown: the label of occupied voxels in geometry-only samples
(``segment.backend: none``). Counts as occupied for IoU; carries no class (no mIoU)."""


class FormatError(ValueError):
    """A file that does not hold what its format promises."""


def class_name(cid: int) -> str:
    if cid == OCCUPIED:
        return "occupied"
    return "free" if cid == FREE else "unknown" if cid == UNKNOWN else CLASS_NAMES[cid - 1]


# clip.json ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipInfo:
    """One clip: frames [start_frame, end_frame) of one video."""

    clip_id: str
    video_id: str
    shot: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    fps: float
    source: str = "shots"  # "shots" (detected) or "realestate10k" (from camera files)

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame


def write_clip_info(path: str | os.PathLike[str], info: ClipInfo) -> None:
    write_json(path, asdict(info))


def read_clip_info(path: str | os.PathLike[str]) -> ClipInfo:
    try:
        return ClipInfo(**read_json(path))
    except (OSError, TypeError, ValueError) as e:
        raise FormatError(f"{path}: not a valid clip.json ({e})") from e


# npz helpers ----------------------------------------------------------------------------------
def _load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{p}: missing")
    try:
        return read_npz(p)
    except (OSError, ValueError) as e:
        raise FormatError(f"{p}: unreadable npz ({e})") from e


def _check(path: Any, arrays: dict[str, np.ndarray], spec: dict[str, tuple[str, tuple]]) -> None:
    """spec: key → (dtype kind or name, shape with -1 wildcards)."""
    for key, (dtype, shape) in spec.items():
        if key not in arrays:
            raise FormatError(f"{path}: key {key!r} missing (has {sorted(arrays)})")
        a = arrays[key]
        ok_dtype = a.dtype.kind == dtype if len(dtype) == 1 else a.dtype == np.dtype(dtype)
        if not ok_dtype:
            raise FormatError(f"{path}: {key} has dtype {a.dtype}, expected {dtype}")
        if len(shape) != a.ndim or any(
            s not in (-1, n) for s, n in zip(shape, a.shape, strict=True)
        ):
            raise FormatError(f"{path}: {key} has shape {a.shape}, expected {shape}")


# recon.npz ------------------------------------------------------------------------------------
RECON_SPEC = {
    "K": ("float32", (-1, 3, 3)),
    "cam2world": ("float32", (-1, 4, 4)),
    "depth": ("float32", (-1, -1, -1)),
    "conf": ("float32", (-1, -1, -1)),
}


def write_recon(
    path: str | os.PathLike[str],
    K: np.ndarray,
    cam2world: np.ndarray,
    depth: np.ndarray,
    conf: np.ndarray,
    **extra: np.ndarray,
) -> None:
    """K (F,3,3), cam2world (F,4,4) OpenCV axes, depth (F,H,W) z-depth, conf (F,H,W)."""
    arrays = {"K": K, "cam2world": cam2world, "depth": depth, "conf": conf}
    arrays = {k: np.asarray(v, np.float32) for k, v in arrays.items()} | extra
    _check(path, arrays, RECON_SPEC)
    write_npz(path, **arrays)


def read_recon(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    arrays = _load(path)
    _check(path, arrays, RECON_SPEC)
    return arrays


# cloud.npz ------------------------------------------------------------------------------------
CLOUD_SPEC = {
    "points": ("float32", (-1, 3)),
    "colors": ("uint8", (-1, 3)),
    "labels": ("uint8", (-1,)),
    "frame": ("uint16", (-1,)),
    "pixel": ("uint32", (-1,)),
}
"""`frame` is the index of the source frame, `pixel` its flat pixel index (v * W + u), so
per-pixel labels can move to points after segmentation. `labels` is 0 until then."""


def write_cloud(
    path: str | os.PathLike[str],
    points: np.ndarray,
    colors: np.ndarray,
    labels: np.ndarray,
    frame: np.ndarray,
    pixel: np.ndarray,
    **extra: np.ndarray,
) -> None:
    arrays = {
        "points": np.asarray(points, np.float32),
        "colors": np.asarray(colors, np.uint8),
        "labels": np.asarray(labels, np.uint8),
        "frame": np.asarray(frame, np.uint16),
        "pixel": np.asarray(pixel, np.uint32),
    } | extra
    _check(path, arrays, CLOUD_SPEC)
    n = {len(arrays[k]) for k in CLOUD_SPEC}
    if len(n) != 1:
        raise FormatError(f"{path}: cloud arrays differ in length {n}")
    write_npz(path, **arrays)


def read_cloud(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    arrays = _load(path)
    _check(path, arrays, CLOUD_SPEC)
    return arrays


# align.json ------------------------------------------------------------------------------------
ALIGN_SPEC = {"rotation": (3, 3), "translation": (3,), "scale": ()}
"""The similarity taking the reconstruction to the aligned world (aligned = scale · rotation ·
p + translation; metric, z-up, floor at z = 0); the align stage adds ``method``, ``floor_z``,
``ceiling_z`` and ``residuals``."""


def _check_align(path: Any, report: Any) -> dict[str, Any]:
    """`report` when its similarity is usable; FormatError naming `path` and the bad field:
    rotation a 3×3 rotation (finite, orthonormal, det +1, not a reflection), translation 3
    finite numbers, scale finite and > 0."""
    if not isinstance(report, dict):
        raise FormatError(f"{path}: not a JSON object")
    fields = {}
    for key in ALIGN_SPEC:
        if key not in report:
            raise FormatError(f"{path}: key {key!r} missing")
        try:
            fields[key] = np.asarray(report[key], np.float64)
        except (TypeError, ValueError) as e:
            raise FormatError(f"{path}: {key} is not numeric ({e})") from None
    r, t, s = fields["rotation"], fields["translation"], fields["scale"]
    if r.shape != (3, 3) or not np.isfinite(r).all():
        raise FormatError(f"{path}: rotation is not a 3×3 rotation (shape {r.shape}, finite)")
    if np.abs(r.T @ r - np.eye(3)).max() > 1e-4:
        raise FormatError(f"{path}: rotation is not a 3×3 rotation (not orthonormal)")
    if np.linalg.det(r) < 0:
        raise FormatError(f"{path}: rotation is a reflection (det < 0)")
    if t.shape != (3,) or not np.isfinite(t).all():
        raise FormatError(
            f"{path}: translation must be 3 finite numbers, got {report['translation']}"
        )
    if s.shape != () or not (np.isfinite(s) and s > 0):
        raise FormatError(f"{path}: scale must be finite and positive, got {report['scale']}")
    return report


def write_align(path: str | os.PathLike[str], report: dict[str, Any]) -> None:
    """Write an align report (:data:`ALIGN_SPEC` checked: finite, scale > 0)."""
    write_json(path, _check_align(path, report))


def read_align(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An align report; FormatError naming the file when missing or malformed."""
    try:
        report = read_json(path)
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: unreadable align.json ({e})") from e
    return _check_align(path, report)


def similarity_matrix(report: dict[str, Any]) -> np.ndarray:
    """The 4×4 matrix of an align report: aligned = M @ [p, 1]."""
    m = np.eye(4)
    m[:3, :3] = report["scale"] * np.asarray(report["rotation"])
    m[:3, 3] = report["translation"]
    return m


def apply_to_poses(report: dict[str, Any], cam2world: np.ndarray) -> np.ndarray:
    """Camera-to-world poses in the aligned frame (rigid: the scale moves into positions)."""
    r, s, t = np.asarray(report["rotation"]), report["scale"], np.asarray(report["translation"])
    out = np.array(cam2world, np.float64, copy=True)
    out[:, :3, :3] = r @ out[:, :3, :3]
    out[:, :3, 3] = s * out[:, :3, 3] @ r.T + t
    return out


# segments/{k}.npz -----------------------------------------------------------------------------
SEGMENT_SPEC = {"labels": ("uint8", (-1, -1)), "regions": ("int32", (-1, -1))}
"""labels: NYU-11 id per pixel (0 none); regions: segment/instance id per pixel (-1 none)."""


def write_segment(path: str | os.PathLike[str], labels: np.ndarray, regions: np.ndarray) -> None:
    arrays = {"labels": np.asarray(labels, np.uint8), "regions": np.asarray(regions, np.int32)}
    _check(path, arrays, SEGMENT_SPEC)
    if int(arrays["labels"].max(initial=0)) > NUM_CLASSES:
        raise FormatError(f"{path}: label {int(arrays['labels'].max())} outside 0..{NUM_CLASSES}")
    write_npz(path, **arrays)


def read_segment(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    arrays = _load(path)
    _check(path, arrays, SEGMENT_SPEC)
    return arrays


# occ/{k}.npz: one training sample ---------------------------------------------------------------
SAMPLE_SPEC = {
    "target": ("uint8", (-1, -1, -1)),
    "voxel_origin": ("float32", (3,)),
    "voxel_size": ("float32", ()),
    "cam_k": ("float32", (3, 3)),
    "cam_pose": ("float32", (4, 4)),
    "depth": ("float32", (-1, -1)),
}


def write_sample(
    path: str | os.PathLike[str],
    *,
    target: np.ndarray,
    voxel_origin: np.ndarray,
    cam_k: np.ndarray,
    cam_pose: np.ndarray,
    depth: np.ndarray,
    frame: str,
    voxel_size: float,
    dims: tuple[int, int, int],
    **extra: np.ndarray,
) -> None:
    """Write one frame's sample (DESIGN.md's table); `frame` is relative to the data root.

    `dims` and `voxel_size` are the grid of ``voxelize`` in the config (its one definition):
    a target of another shape, or a non-positive or non-finite voxel size or origin, is a
    :class:`FormatError`.
    """
    arrays: dict[str, Any] = {
        "target": np.asarray(target, np.uint8),
        "voxel_origin": np.asarray(voxel_origin, np.float32),
        "voxel_size": np.float32(voxel_size),
        "cam_k": np.asarray(cam_k, np.float32),
        "cam_pose": np.asarray(cam_pose, np.float32),
        "depth": np.asarray(depth, np.float32),
    }
    _check(path, {k: np.asarray(v) for k, v in arrays.items()}, SAMPLE_SPEC)
    if arrays["target"].shape != tuple(dims):
        raise FormatError(
            f"{path}: target has shape {arrays['target'].shape}, grid is {tuple(dims)}"
        )
    if not (
        np.isfinite(voxel_size) and voxel_size > 0 and np.isfinite(arrays["voxel_origin"]).all()
    ):
        raise FormatError(
            f"{path}: voxel size {voxel_size} / origin {arrays['voxel_origin']} not finite and positive"
        )
    bad = np.setdiff1d(np.unique(arrays["target"]), [*range(NUM_CLASSES + 1), OCCUPIED, UNKNOWN])
    if bad.size:
        raise FormatError(f"{path}: target holds ids {bad.tolist()} outside 0..11, 254, 255")
    write_npz(path, frame=np.asarray(frame), **arrays, **extra)


def read_sample(path: str | os.PathLike[str]) -> dict[str, Any]:
    arrays = _load(path)
    _check(path, arrays, SAMPLE_SPEC)
    if "frame" not in arrays:
        raise FormatError(f"{path}: key 'frame' missing")
    out: dict[str, Any] = dict(arrays)
    out["frame"] = str(arrays["frame"])
    out["voxel_size"] = float(arrays["voxel_size"])
    return out
