"""clean stage: recon.npz → cloud.npz, confident points only, outliers removed (Open3D).

Both filters run on a voxel-downsampled cloud whose cell is ``downsample_factor`` × the
cloud's median neighbour spacing (grown on big clouds so about ``filter_cells`` cells hold
the surfaces), and every point inherits its cell's verdict: the radius
and statistical filters of Open3D then see a cloud of even density whatever DUSt3R's scale,
and a 4 M-point clip is filtered in ~9 s instead of the plain filter's ~25 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task

from models.geometry import backproject, median_spacing
from storage.config import CleanConfig, Config
from storage.formats import read_recon, write_cloud
from storage.frames import read_clip_frames
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult
from storage.stages import run_item_stage

STAGE = "clean"


def recon_points(
    recon: dict[str, np.ndarray], images: np.ndarray | None, conf_threshold: float, stride: int = 1
) -> dict[str, np.ndarray]:
    """Back-project every `stride`-th pixel (rows and columns) that is confident, per frame."""
    pts, cols, frame, pixel = [], [], [], []
    h, w = recon["depth"].shape[1:]
    grid = np.zeros((h, w), bool)
    grid[::stride, ::stride] = True
    for f in range(len(recon["depth"])):
        p, pix = backproject(
            recon["depth"][f],
            recon["K"][f],
            recon["cam2world"][f],
            (recon["conf"][f] >= conf_threshold) & grid,
        )
        pts.append(p)
        pixel.append(pix)
        frame.append(np.full(len(pix), f, np.uint16))
        if images is not None:
            cols.append(images[f].reshape(-1, 3)[pix])
    points = np.concatenate(pts) if pts else np.zeros((0, 3), np.float32)
    colors = np.concatenate(cols) if cols else np.zeros((len(points), 3), np.uint8)
    return {
        "points": points,
        "colors": colors,
        "frame": np.concatenate(frame),
        "pixel": np.concatenate(pixel),
    }


def cell_ids(points: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Voxel cell of each point as (inverse index into unique cells, points per cell), fast 1-D keys."""
    ijk = np.floor(points / cell).astype(np.int64)
    ijk -= ijk.min(axis=0)
    span = ijk.max(axis=0) + 1
    if np.prod(span.astype(np.float64)) < 2**62:
        _, inverse, counts = np.unique(
            np.ravel_multi_index(ijk.T, span), return_inverse=True, return_counts=True
        )
    else:  # absurd extents (a few far outliers): fall back to row-wise unique
        _, inverse, counts = np.unique(ijk, axis=0, return_inverse=True, return_counts=True)
    return inverse.reshape(-1), counts


def view_spacing(recon: dict[str, np.ndarray], conf_threshold: float) -> float:
    """Median pixel footprint (depth / focal) of confident pixels: the cloud's natural spacing."""
    focal = recon["K"][:, 0, 0][:, None, None]
    good = (recon["conf"] >= conf_threshold) & (recon["depth"] > 0) & np.isfinite(recon["depth"])
    return float(np.median((recon["depth"] / focal)[good])) if good.any() else 0.0


def outlier_mask(
    points: np.ndarray, cfg: CleanConfig, spacing: float | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Keep-mask of `points` after the radius and statistical filters, and counts per filter.

    `spacing` (the cloud's natural point spacing) is measured with a k-d tree when not given.
    """
    import open3d as o3d

    finite = np.isfinite(points).all(axis=1)
    stats: dict[str, Any] = {"input": int(len(points)), "finite": int(finite.sum())}
    if finite.sum() < 4:
        raise StageFailure(
            f"too few points to clean ({int(finite.sum())} finite of {len(points)})", **stats
        )
    pts = points[finite].astype(np.float64)
    spacing = spacing or median_spacing(pts)
    if spacing <= 0:
        raise StageFailure("degenerate cloud: all points coincide", **stats)
    # a surface sampled at `spacing` fills ~N·(spacing/cell)² cells: aim at filter_cells
    cell = spacing * max(cfg.downsample_factor, np.sqrt(len(pts) / cfg.filter_cells))
    inverse, counts = cell_ids(pts, cell)
    stats["cells"] = int(len(counts))
    centroids = (
        np.stack([np.bincount(inverse, pts[:, i]) for i in range(3)], axis=1) / counts[:, None]
    )
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(centroids))
    _, kept_r = cloud.remove_radius_outlier(cfg.radius_min_points, cfg.radius_factor * cell)
    keep_cells = np.zeros(len(centroids), bool)
    keep_cells[kept_r] = True
    stats["after_radius"] = int(counts[keep_cells].sum())
    sub = cloud.select_by_index(kept_r)
    if len(kept_r) > cfg.stat_neighbors:
        _, kept_s = sub.remove_statistical_outlier(cfg.stat_neighbors, cfg.stat_std_ratio)
        keep_cells[:] = False
        keep_cells[np.asarray(kept_r)[np.asarray(kept_s, int)]] = True
    stats["after_statistical"] = int(counts[keep_cells].sum())
    stats["spacing"] = spacing
    mask = np.zeros(len(points), bool)
    mask[np.flatnonzero(finite)] = keep_cells[inverse]
    return mask, stats


def clean_cloud(
    cloud: dict[str, np.ndarray], cfg: CleanConfig, spacing: float | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """`cloud` (arrays of equal length) with outliers removed; fails under ``min_points``."""
    if len(cloud["points"]) == 0:
        raise StageFailure("empty cloud")
    mask, stats = outlier_mask(np.asarray(cloud["points"]), cfg, spacing)
    kept = {k: np.asarray(v)[mask] for k, v in cloud.items()}
    stats["kept"] = int(mask.sum())
    if stats["kept"] < cfg.min_points:
        raise StageFailure(
            f"too few points after cleaning ({stats['kept']} < {cfg.min_points})", **stats
        )
    return kept, stats


def clean(root: DataRoot, clip: str, cfg: CleanConfig) -> StageResult:
    """Build the clip's cleaned cloud.npz from its recon.npz and frames."""
    recon = read_recon(root.recon_npz(clip))
    images = read_clip_frames(root, clip, len(recon["depth"]))
    if images.shape[1:3] != recon["depth"].shape[1:]:
        raise StageFailure(
            f"frames {images.shape[1:3]} and depth {recon['depth'].shape[1:]} differ in size"
        )
    h, w = recon["depth"].shape[1:]
    stride = max(1, int(np.ceil(np.sqrt(h * w / cfg.points_per_frame))))
    raw = recon_points(recon, images, cfg.conf_threshold, stride)
    if not len(raw["points"]):
        raise StageFailure(f"no pixel with finite depth and confidence ≥ {cfg.conf_threshold}")
    cloud, stats = clean_cloud(raw, cfg, view_spacing(recon, cfg.conf_threshold))
    labels = np.zeros(len(cloud["points"]), np.uint8)
    write_cloud(
        root.cloud_npz(clip),
        cloud["points"],
        cloud["colors"],
        labels,
        cloud["frame"],
        cloud["pixel"],
    )
    return StageResult(stats)


def run(root: DataRoot, cfg: Config, clip: str, *, force: bool = False) -> Marker:
    """The clean stage of one clip."""
    return run_item_stage(root, cfg, clip, STAGE, lambda: clean(root, clip, cfg.clean), force=force)


clean_task = task(name="clean")(run)
