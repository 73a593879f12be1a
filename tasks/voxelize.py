"""voxelize stage: one 60×60×36 semantic occupancy grid at 0.08 m per frame (``occ/{k}.npz``).

Grid placement rule: axis-aligned in the aligned world (walls on voxel faces after the
Manhattan yaw); x-y centred on the median x-y of what frame k sees, snapped to the 0.08 m
lattice; z from half a voxel under the floor (z = 0) to 2.84 m, so floor and a 2.8 m ceiling
fall inside. Occupied voxels hold ≥ ``voxelize.min_points`` distinct points of the clip's
cleaned cloud (exact and near-duplicates, as in merged clouds, count once: `distinct_points`)
that frame k sees (projected into it within a depth tolerance); the label is the class with most points (ties → smaller id), an
occupied voxel with no labelled point is unknown (255), or 254 (occupied, no class) when the
clip was segmented with `segment.backend: none` (geometry-only samples). Voxels frame k sees through are free
(0): the centre projects into the frame and its pixel's ray goes at least one voxel further
(``models.geometry.ray_free_space``); everything else is unknown (255).
"""

from __future__ import annotations

import numpy as np
from prefect import task

from models.geometry import (
    cloud_spacing,
    distinct_mask,
    majority_grid,
    project,
    ray_free_space,
    transform_points,
)
from storage.config import Config, VoxelConfig
from storage.formats import (
    FREE,
    NUM_CLASSES,
    OCCUPIED,
    UNKNOWN,
    FormatError,
    apply_to_poses,
    read_align,
    read_cloud,
    read_recon,
    read_segment,
    similarity_matrix,
    write_sample,
)
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult, read_marker
from storage.stages import run_item_stage

STAGE = "voxelize"


def visible_from(points: np.ndarray, depth: np.ndarray, K: np.ndarray, cam2world: np.ndarray,
                 rel_tol: float = 0.03, abs_tol: float = 0.12) -> np.ndarray:  # fmt: skip
    """Mask of `points` that project inside the frame within a tolerance of its observed depth."""
    r, t = cam2world[:3, :3], cam2world[:3, 3]
    cam = (points - t) @ r
    z = cam[:, 2]
    front = z > 1e-6
    u, v = (np.round(np.where(front, c, -1.0)).astype(np.int64) for c in project(*cam.T, K))
    h, w = depth.shape
    inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    d = np.zeros(len(points))
    d[inside] = depth[v[inside], u[inside]]
    return inside & (d > 0) & (np.abs(z - d) <= np.maximum(abs_tol, rel_tol * d))


def distinct_points(points: np.ndarray) -> np.ndarray:
    """Keep-mask of (N,3) `points` holding one of each group of exact or near-duplicates (within
    the cloud's own duplicate tolerance, `models.geometry.cloud_spacing`), the first one: a
    merged cloud then counts each surface sample once towards ``voxelize.min_points``."""
    return distinct_mask(points, cloud_spacing(points).tolerance)


def grid_origin(seen: np.ndarray, voxel_size: float, dims: tuple[int, int, int]) -> np.ndarray:
    """Min corner of a frame's grid (see the module docstring for the rule)."""
    half = np.array(dims[:2]) * voxel_size / 2
    xy = np.round((np.median(seen[:, :2], axis=0) - half) / voxel_size) * voxel_size
    return np.array([xy[0], xy[1], -voxel_size / 2], np.float32)


def frame_grid(points: np.ndarray, labels: np.ndarray, depth: np.ndarray, K: np.ndarray,
               cam2world: np.ndarray, cfg: VoxelConfig,
               origin: np.ndarray | None = None,
               unlabelled: int = UNKNOWN) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(target uint8 dims, origin) of one frame from the aligned, labelled cloud; the grid's
    min corner is `origin` when given (e.g. another grid's, to compare the two). Occupied
    voxels whose points carry no class get `unlabelled`: 255 (unknown) when a segmenter ran,
    OCCUPIED (254) in geometry-only samples."""
    seen = visible_from(points, depth, K, cam2world, abs_tol=1.5 * cfg.voxel_size)
    if not seen.any():
        raise ValueError("frame sees none of the cloud")
    if origin is None:
        origin = grid_origin(points[seen], cfg.voxel_size, cfg.dims)
    classes, counts = majority_grid(points[seen], labels[seen], origin, cfg.voxel_size, cfg.dims)
    free = ray_free_space(
        depth, K, cam2world, origin, cfg.voxel_size, cfg.dims, max_depth=cfg.max_depth_m
    )
    target = np.full(cfg.dims, UNKNOWN, np.uint8)
    target[free] = FREE
    occupied = counts >= cfg.min_points
    target[occupied] = np.where(classes[occupied] > 0, classes[occupied], unlabelled)
    return target, origin


def point_labels(
    root: DataRoot, clip: str, frame: np.ndarray, pixel: np.ndarray, n_frames: int
) -> np.ndarray:
    """Each point's class, read from its source pixel in ``segments/{k}.npz``."""
    stack = np.stack(
        [read_segment(root.segment_path(clip, k))["labels"].reshape(-1) for k in range(n_frames)]
    )
    if int(stack.max(initial=0)) > NUM_CLASSES:
        raise StageFailure(f"segment labels hold ids > {NUM_CLASSES}")
    return stack[frame.astype(np.int64), pixel.astype(np.int64)]


def voxelize(root: DataRoot, clip: str, cfg: VoxelConfig) -> StageResult:
    """Write one sample per frame of the clip."""
    recon = read_recon(root.recon_npz(clip))
    cloud = read_cloud(root.cloud_npz(clip))
    try:
        report = read_align(root.align_json(clip))
    except FormatError as e:
        raise StageFailure(str(e)) from None
    n_frames = len(recon["depth"])
    labels = point_labels(root, clip, cloud["frame"], cloud["pixel"], n_frames)
    segmenter = read_marker(root.clip_marker(clip, "segment"))
    geometry_only = segmenter is not None and segmenter.backend == "none"
    unlabelled = OCCUPIED if geometry_only else UNKNOWN
    distinct = distinct_points(cloud["points"])
    points = transform_points(similarity_matrix(report), cloud["points"][distinct])
    labels = labels[distinct]
    poses = apply_to_poses(report, recon["cam2world"])
    written, skipped, occ, free = 0, [], [], []
    for old in root.occ_dir(clip).glob("*.npz"):
        old.unlink()
    for k in range(n_frames):
        depth = recon["depth"][k] * report["scale"]
        if not (np.isfinite(depth) & (depth > 0)).any():
            skipped.append(k)
            continue
        try:
            target, origin = frame_grid(
                points, labels, depth, recon["K"][k], poses[k], cfg, unlabelled=unlabelled
            )
        except ValueError:
            skipped.append(k)
            continue
        write_sample(root.occ_path(clip, k), target=target, voxel_origin=origin, cam_k=recon["K"][k],
                     cam_pose=poses[k], depth=depth, frame=root.relative(root.frame_path(clip, k)),
                     voxel_size=cfg.voxel_size, dims=cfg.dims)  # fmt: skip
        written += 1
        occ.append(float(((target > 0) & (target < UNKNOWN)).mean()))
        free.append(float((target == FREE).mean()))
    if written == 0:
        raise StageFailure(
            f"no frame could be voxelized ({len(skipped)} without valid depth or view)"
        )
    return StageResult({"samples": written, "skipped_frames": skipped, "geometry_only": geometry_only,
                        "occupied_frac": float(np.mean(occ)), "free_frac": float(np.mean(free))})  # fmt: skip


def run(root: DataRoot, cfg: Config, clip: str, *, force: bool = False) -> Marker:
    """The voxelize stage of one clip."""
    return run_item_stage(
        root, cfg, clip, STAGE, lambda: voxelize(root, clip, cfg.voxelize), force=force
    )


voxelize_task = task(name="voxelize")(run)
