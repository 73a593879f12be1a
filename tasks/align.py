"""align stage: a similarity taking the reconstruction to a metric, z-up, Manhattan frame.

1. Up prior: the cameras' mean up vector (−y of OpenCV cameras); without cameras, the cloud's
   least-variance axis. 2. Planes by RANSAC (Open3D ``segment_plane``) on a subsample; the floor
   is the lowest well-supported plane within ``gravity_max_angle_deg`` of the prior below every
   camera (bed and table tops are level too),
   the ceiling the largest such plane above them. 3. Yaw snapped to the dominant wall directions
   (the 4θ circular mean of horizontal normals) so walls fall on voxel faces. 4. Scale so that
   floor→ceiling is ``wall_height_m``; a ceiling only glimpsed above the walls' visible top is
   found as a sheet of level points at one height over the full cloud (``floor+ceiling-glimpse``);
   with no ceiling seen, the top of the walls (99th height percentile, ``floor+wall-top``)
   stands for it, and failing that a 1.6 m camera height (``floor+camera-height``).
   5. Floor at z = 0, cameras centred on x = y = 0.
aligned = scale · rotation · p + translation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task

from models.geometry import median_spacing
from storage.config import AlignConfig, Config
from storage.formats import read_cloud, read_recon, write_align
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult
from storage.stages import run_item_stage

STAGE = "align"
CAMERA_HEIGHT_M = 1.6
SAMPLE = 200_000
MIN_GLIMPSE = 30
"""Fewest level points a glimpsed ceiling sheet must hold."""


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector `a` to unit vector `b`."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        if c > 0:
            return np.eye(3)
        axis = np.eye(3)[np.argmin(np.abs(a))]
        v = np.cross(a, axis) / np.linalg.norm(np.cross(a, axis))
        return 2 * np.outer(v, v) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def up_prior(points: np.ndarray, cam2world: np.ndarray | None) -> np.ndarray:
    """Mean camera up vector, or the cloud's least-variance axis when there are no cameras."""
    if cam2world is not None and len(cam2world):
        up = -cam2world[:, :3, 1].mean(axis=0)
        if np.linalg.norm(up) > 1e-6:
            return up / np.linalg.norm(up)
    _, vecs = np.linalg.eigh(np.cov((points - points.mean(axis=0)).T))
    return vecs[:, 0]


def find_planes(points: np.ndarray, distance: float, iterations: int, max_planes: int = 8,
                min_frac: float = 0.01) -> list[tuple[np.ndarray, float, np.ndarray]]:  # fmt: skip
    """Up to `max_planes` planes (unit normal n, offset h with n·p = h, inlier indices)."""
    import open3d as o3d

    o3d.utility.random.seed(0)  # RANSAC is randomised: the same cloud must align the same way
    remaining = np.arange(len(points))
    planes = []
    for _ in range(max_planes):
        if len(remaining) < max(3, min_frac * len(points)):
            break
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[remaining]))
        # probability 1: every iteration runs (early exit depends on thread timing)
        model, inl = pc.segment_plane(distance, 3, iterations, probability=1.0)
        if len(inl) < min_frac * len(points):
            break
        n = np.asarray(model[:3], np.float64)
        norm = np.linalg.norm(n)
        planes.append((n / norm, -model[3] / norm, remaining[np.asarray(inl)]))
        remaining = np.delete(remaining, inl)
    return planes


def is_surface(points: np.ndarray, n: np.ndarray, h: float, distance: float) -> bool:
    """A real plane is dense on itself and sparse just beside it; a blob is equally dense in both."""
    d = np.abs(points @ n - h)
    on, beside = int((d <= distance).sum()), int(((d > distance) & (d <= 2 * distance)).sum())
    return on >= 3 * beside


def level_normals(points: np.ndarray, distance: float) -> np.ndarray:
    """Unit normal of each point's neighbourhood (PCA of 16 neighbours within 4 × `distance`)."""
    import open3d as o3d

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=4 * distance, max_nn=16))
    return np.asarray(pc.normals)


def search_level(points: np.ndarray, up: np.ndarray, cams: np.ndarray | None, distance: float,
                 cfg: AlignConfig, above: bool) -> tuple[np.ndarray, float, np.ndarray] | None:  # fmt: skip
    """The best level plane among the points above (ceiling) or below (floor) every camera.

    Greedy RANSAC over the whole cloud finds walls and furniture first; floors and ceilings
    that are only glimpsed are found by searching the points on their side of the cameras whose
    local normal is within the gravity cone (walls left out).
    """
    heights = points @ up
    ref = cams @ up if cams is not None else np.median(heights, keepdims=True)
    side = np.flatnonzero(heights > ref.max() if above else heights < ref.min())
    cos_max = np.cos(np.radians(cfg.gravity_max_angle_deg))
    side = side[np.abs(level_normals(points[side], distance) @ up) >= cos_max]  # not walls
    if len(side) < max(50, 0.002 * len(points)):
        return None
    planes = find_planes(points[side], distance, cfg.ransac_iterations, max_planes=6, min_frac=0.02)
    level = [(n if n @ up > 0 else -n, h if n @ up > 0 else -h, side[i]) for n, h, i in planes
             if abs(n @ up) >= cos_max and is_surface(points, n, h, distance)]  # fmt: skip
    if not level:
        return None
    return max(level, key=lambda p: len(p[2])) if above else min(level, key=lambda p: p[1])


def ceiling_glimpse(points: np.ndarray, up: np.ndarray, wall_top: float, distance: float,
                    cfg: AlignConfig) -> float | None:  # fmt: skip
    """Height of a ceiling seen only as a sliver above the walls' visible top, or None.

    Level-normal points above the wall top are mostly wall edge noise, spread over heights; a
    glimpsed ceiling is a sheet of them at one height. The highest-count window of ±`distance`
    above the wall-top band is the ceiling when it holds ≥ ``MIN_GLIMPSE`` points and ≥ 3× the
    median window (the dense-on-itself test of `is_surface`, along the height).
    """
    heights = points @ up
    near = np.flatnonzero(heights >= wall_top - 2 * distance)
    if len(near) < MIN_GLIMPSE:
        return None
    cos_max = np.cos(np.radians(cfg.gravity_max_angle_deg))
    h = np.sort(heights[near][np.abs(level_normals(points[near], distance) @ up) >= cos_max])
    if len(h) < MIN_GLIMPSE or h[-1] < wall_top + 2 * distance:
        return None
    centres = np.arange(wall_top + 2 * distance, h[-1] + distance / 2, distance / 2)
    counts = np.searchsorted(h, centres + distance, "right") - np.searchsorted(
        h, centres - distance, "left"
    )
    best = int(np.argmax(counts))
    if counts[best] < max(MIN_GLIMPSE, 3 * float(np.median(counts))):
        return None
    c = centres[best]
    return float(np.median(h[(h >= c - distance) & (h <= c + distance)]))


def manhattan_yaw(points: np.ndarray, rotation: np.ndarray, spacing: float) -> tuple[float, float]:
    """Yaw (rad) putting wall normals on ±x/±y after `rotation`, and the mean residual (°)."""
    import open3d as o3d

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points @ rotation.T))
    pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=6 * spacing, max_nn=30))
    n = np.asarray(pc.normals)
    horiz = np.hypot(n[:, 0], n[:, 1])
    w = horiz * (np.abs(n[:, 2]) < 0.3)
    if w.sum() == 0:
        return 0.0, float("nan")
    theta = np.arctan2(n[:, 1], n[:, 0])
    yaw = np.arctan2((w * np.sin(4 * theta)).sum(), (w * np.cos(4 * theta)).sum()) / 4
    dev = np.abs((theta - yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)
    return float(yaw), float(np.degrees((w * dev).sum() / w.sum()))


def lattice_shift(xy: np.ndarray, lattice: float) -> np.ndarray:
    """x-y shift (< one cell) putting the strongest wall of each axis mid-cell of the voxel lattice.

    Walls are axis-aligned after the Manhattan yaw; a wall lying on a cell boundary would be
    split by noise into two voxel layers, one lying mid-cell stays in one.
    """
    shift = np.zeros(2)
    for axis in range(2):
        slab = np.floor(xy[:, axis] / lattice).astype(np.int64)
        values, counts = np.unique(slab, return_counts=True)
        wall = np.abs(slab - values[counts.argmax()]) <= 1  # the most populated slab ± 1
        phase = np.exp(2j * np.pi * xy[wall, axis] / lattice).mean()
        shift[axis] = (0.5 - (np.angle(phase) % (2 * np.pi)) / (2 * np.pi)) * lattice
    return shift


def align_cloud(
    points: np.ndarray, cam2world: np.ndarray | None, cfg: AlignConfig, seed: int = 0
) -> dict[str, Any]:
    """The similarity (rotation, translation, scale) into the aligned frame, and how it was found."""
    pts = np.asarray(points, np.float64)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 100:
        raise StageFailure(f"too few finite points to align ({len(pts)})")
    rng = np.random.default_rng(seed)
    sample = pts[rng.choice(len(pts), min(SAMPLE, len(pts)), replace=False)]
    spacing = median_spacing(sample)
    if spacing <= 0:
        raise StageFailure("degenerate cloud: all points coincide")
    prior = up_prior(sample, cam2world)
    cams = (
        None if cam2world is None or not len(cam2world) else cam2world[:, :3, 3].astype(np.float64)
    )
    planes = find_planes(sample, cfg.ransac_distance_factor * spacing, cfg.ransac_iterations)
    cos_max = np.cos(np.radians(cfg.gravity_max_angle_deg))
    level = []
    distance = cfg.ransac_distance_factor * spacing
    for n, h, inl in planes:
        if abs(n @ prior) >= cos_max and is_surface(sample, n, h, distance):
            n, h = (n, h) if n @ prior > 0 else (-n, -h)
            level.append((n, h, inl))
    if cams is not None:
        floors = [p for p in level if p[1] < (cams @ p[0]).min()]
        ceilings = [p for p in level if p[1] > (cams @ p[0]).max()]
    else:
        level.sort(key=lambda p: p[1])
        floors, ceilings = level[:1], level[1:][-1:]
    found = search_level(sample, prior, cams, distance, cfg, above=False)
    floors += [found] if found is not None else []  # greedy RANSAC often misses a glimpsed floor
    floors = [p for p in floors if ((sample @ p[0]) < p[1] - 3 * distance).mean() < 0.02]
    best = max((len(p[2]) for p in floors), default=0)  # of planes with nothing much below
    floors = [
        p for p in floors if len(p[2]) >= max(cfg.min_floor_support * best, 0.005 * len(sample))
    ]
    if not floors:
        raise StageFailure(
            f"no floor plane found ({len(planes)} planes, {len(level)} level with the cameras' up)"
        )
    floor = min(floors, key=lambda p: p[1])  # the lowest: beds and tables are level too
    ceiling = max(ceilings, key=lambda p: len(p[2])) if ceilings else None
    if ceiling is None:
        ceiling = search_level(sample, floor[0], cams, distance, cfg, above=True)
    up = floor[0]
    r_up = rotation_between(up, np.array([0.0, 0.0, 1.0]))
    yaw, manhattan_res = (
        manhattan_yaw(sample, r_up, spacing) if cfg.manhattan else (0.0, float("nan"))
    )
    rz = np.array([[np.cos(-yaw), -np.sin(-yaw), 0], [np.sin(-yaw), np.cos(-yaw), 0], [0, 0, 1]])
    rotation = rz @ r_up
    z = sample @ rotation[2]
    floor_z = float(np.median(z[floor[2]]))
    method = "floor+ceiling"
    if ceiling is not None:
        top = float(np.median(z[ceiling[2]]))
    else:
        walls = [
            inl
            for n, _, inl in planes
            if abs(n @ up) < np.sin(np.radians(cfg.gravity_max_angle_deg))
        ]
        top = (
            float(np.percentile(z[np.concatenate(walls)], 99.0))
            if walls
            else float(np.percentile(z, 99.0))
        )
        glimpse = ceiling_glimpse(pts, rotation[2], top, distance, cfg)
        top, method = (
            (top, "floor+wall-top") if glimpse is None else (glimpse, "floor+ceiling-glimpse")
        )
        if cams is not None:
            cam_h = float(np.median(cams @ rotation[2])) - floor_z
            if top - floor_z < 1.3 * cam_h:
                top, method = (
                    floor_z + cam_h * cfg.wall_height_m / CAMERA_HEIGHT_M,
                    "floor+camera-height",
                )
    if top - floor_z <= 0:
        raise StageFailure("degenerate alignment: nothing above the floor")
    scale = cfg.wall_height_m / (top - floor_z)
    centre = (cams if cams is not None else sample) @ rotation.T
    translation = -scale * np.array([centre[:, 0].mean(), centre[:, 1].mean(), floor_z])
    if cfg.lattice_m > 0 and cfg.manhattan:
        translation[:2] += lattice_shift(
            scale * (sample @ rotation.T)[:, :2] + translation[:2], cfg.lattice_m
        )
    floor_rms = float(np.sqrt(np.mean((z[floor[2]] - floor_z) ** 2)) * scale)
    return {
        "rotation": rotation.tolist(),
        "translation": translation.tolist(),
        "scale": float(scale),
        "floor_z": 0.0,
        "ceiling_z": float(cfg.wall_height_m)
        if ceiling is not None
        else float((top - floor_z) * scale),
        "method": method,
        "residuals": {
            "floor_rms_m": floor_rms,
            "floor_inlier_frac": len(floor[2]) / len(sample),
            "up_prior_angle_deg": float(np.degrees(np.arccos(np.clip(up @ prior, -1, 1)))),
            "manhattan_deg": manhattan_res,
            "planes": len(planes),
        },
    }


def align(root: DataRoot, clip: str, cfg: AlignConfig) -> StageResult:
    """Write the clip's align.json from its cleaned cloud and cameras."""
    cloud = read_cloud(root.cloud_npz(clip))
    cams = read_recon(root.recon_npz(clip))["cam2world"]
    report = align_cloud(cloud["points"], cams, cfg)
    write_align(root.align_json(clip), report)
    return StageResult(
        {"scale": report["scale"], "method": report["method"], **report["residuals"]}
    )


def run(root: DataRoot, cfg: Config, clip: str, *, force: bool = False) -> Marker:
    """The align stage of one clip."""
    return run_item_stage(root, cfg, clip, STAGE, lambda: align(root, clip, cfg.align), force=force)


align_task = task(name="align")(run)
