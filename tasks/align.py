"""align stage: a similarity taking the reconstruction to a metric, z-up, Manhattan frame.

1. Up prior: the cameras' mean up vector (−y of OpenCV cameras); without cameras, the normal
   of the largest plane bounding the scene near the cloud's least-variance axis (`scene_axis`),
   its sign from the scene (`up_sign`). 2. Planes by RANSAC (Open3D ``segment_plane``) on a
   subsample (inlier distance: the larger of ``ransac_distance_factor`` × spacing and 3 × the
   cloud's surface noise, ``models.surface_noise``); the floor is the lowest well-supported
   plane within ``gravity_max_angle_deg`` of the prior below every camera (bed and table tops
   are level too),
   the ceiling the largest such plane above them. 3. Yaw snapped to the dominant wall directions
   (the 4θ circular mean of horizontal normals) so walls fall on voxel faces. 4. Scale so that
   floor→ceiling is ``wall_height_m``; a ceiling only glimpsed above the walls' visible top is
   found as a sheet of level points at one height over the full cloud, when it has a ceiling's
   evidence (`glimpse_objection`; ``floor+ceiling-glimpse``);
   with no ceiling seen, the top of the walls (99th height percentile, ``floor+wall-top``)
   stands for it, and failing that a 1.6 m camera height (``floor+camera-height``).
   5. Floor at z = 0, cameras centred on x = y = 0.
aligned = scale · rotation · p + translation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task

from models.geometry import cloud_spacing, distinct_mask
from models.surface_noise import surface_noise
from storage.config import AlignConfig, Config
from storage.formats import read_cloud, read_recon, write_align
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult
from storage.scale import MEASURED
from storage.stages import run_item_stage

STAGE = "align"
CAMERA_HEIGHT_M = 1.6
SAMPLE = 200_000
SCORE_POINTS = 4_000
"""Points RANSAC scores its hypotheses on (the inlier share of a plane to about ±1 %)."""
NORMAL_POINTS = 50_000
"""Most points whose local normals are estimated (yaw and the level-surface search)."""
CAMERAS_ABOVE_FLOOR = 0.25
"""Least median camera height above a floor, as a share of the height of the walls on it."""
MIN_GLIMPSE = 30
"""Fewest level points a glimpsed ceiling sheet must hold."""
SCENE_AXIS_CONE_DEG = 60.0
"""Widest angle between the least-variance axis and the normal of a plane taken as level when
there are no cameras: every direction is within 54.7° of one of three orthogonal axes, so the
cone always holds the nearest Manhattan axis, and a second only when the prior lies between
two (ICL-NUIM: 50° from the floor's, 40° from a wall's); walls 90° off stay out."""
CEILING_OVER_CAMERAS = 1.25
"""Least ceiling height over the highest camera's, both above the floor: hand-held cameras stay
under ~1.8 m and rooms are ≥ 2.3 m high (0.78, so ≥ 1.28); 1.25 leaves a little margin."""
GLIMPSE_ABOVE = 0.1
"""Most points above a ceiling glimpse, as a share of its own: its stray noise, not a surface."""
GLIMPSE_SPAN = 0.1
"""Least span of a ceiling glimpse over the scene's width: a strip along the top of the view
crosses a good part of the room (a 1 m strip of a 5 m room is 0.2)."""
NOISE_SIGMAS = 3.0
"""Plane distance in surface-noise RMS units when that exceeds the spacing rule: ±3σ holds
99.7 % of a surface's points (multi-view-stereo clouds are 1-2 spacings thick)."""


Plane = tuple[np.ndarray, float, np.ndarray]
"""A plane: unit normal n, offset h (n·p = h), indices of its inliers in the sample."""


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


def scene_axis(sample: np.ndarray, prior: np.ndarray, planes: list[Plane],
               distance: float) -> np.ndarray:  # fmt: skip
    """The up axis (sign undecided) of a scene filmed without camera poses.

    `prior` is the cloud's least-variance axis: rooms are wider than tall, but on a room corner
    (floor and two walls, ICL-NUIM) it lies between the floor's normal and a wall's, 50° off.
    Of the planes (`find_planes`), those that bound the scene (under 2 % of `sample` more than
    3 × `distance` beyond them on one side; a table or a cabinet front has the scene on both
    sides) are floor, ceiling or walls; the largest of them within ``SCENE_AXIS_CONE_DEG`` of
    the prior is level, its normal the axis: a video sees the floor at the bottom of nearly
    every frame (cameras 1-1.8 m up, held level or pitched down) while each wall is seen only
    from some frames. The prior itself when no bounding plane lies in that cone (four walls
    around a hidden floor: their normals are 90° from it).
    """
    best: tuple[int, np.ndarray] | None = None
    cone = np.cos(np.radians(SCENE_AXIS_CONE_DEG))
    for n, h, inl in planes:
        if abs(n @ prior) < cone or (best is not None and len(inl) <= best[0]):
            continue
        d = sample @ n - h
        beyond = min(float((d > 3 * distance).mean()), float((d < -3 * distance).mean()))
        if beyond < 0.02 and is_surface(sample, n, h, distance):
            best = (len(inl), n)
    return prior if best is None else best[1]


def subsample(index: np.ndarray, most: int, seed: int = 0) -> np.ndarray:
    """At most `most` of `index` (a seeded random choice, in order); all when fewer."""
    if len(index) <= most:
        return index
    return np.sort(np.random.default_rng(seed).choice(index, most, replace=False))


def fit_plane(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane (unit normal n, offset h with n·p = h) of (N,3) points (SVD)."""
    centre = points.mean(axis=0)
    n = np.linalg.svd(points - centre, full_matrices=False)[2][-1]
    return n, float(n @ centre)


def find_planes(points: np.ndarray, distance: float, iterations: int, max_planes: int = 8,
                min_frac: float = 0.01) -> list[tuple[np.ndarray, float, np.ndarray]]:  # fmt: skip
    """Up to `max_planes` planes (unit normal n, offset h with n·p = h, inlier indices), greedily.

    Each plane's RANSAC hypotheses (Open3D ``segment_plane``) are scored on a seeded subsample
    of at most ``SCORE_POINTS`` of the remaining points (an inlier share known to ±1.5 %, where
    the cost grows with points × iterations); the winner is refitted by least squares to its
    inliers among all remaining points, whose inliers it then takes.
    """
    import open3d as o3d

    o3d.utility.random.seed(0)  # RANSAC is randomised: the same cloud must align the same way
    remaining = np.arange(len(points))
    planes = []
    for seed in range(max_planes):
        if len(remaining) < max(3, min_frac * len(points)):
            break
        scored = subsample(remaining, SCORE_POINTS, seed)
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[scored]))
        # probability 1: every iteration runs (early exit depends on thread timing)
        model, _ = pc.segment_plane(distance, 3, iterations, probability=1.0)
        n = np.asarray(model[:3], np.float64)
        n, h = n / np.linalg.norm(n), -model[3] / np.linalg.norm(n)
        for _refit in range(2):
            on = np.abs(points[remaining] @ n - h) <= distance
            if on.sum() < 3:
                break
            n, h = fit_plane(points[remaining[on]])
        on = np.abs(points[remaining] @ n - h) <= distance
        if on.sum() < max(3, min_frac * len(points)):
            break
        planes.append((n, h, remaining[on]))
        remaining = remaining[~on]
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
    side = subsample(side, NORMAL_POINTS)
    least = max(50, 0.002 * len(points))
    if len(side) < least:  # nothing there (Open3D would warn of a k-d tree on no data)
        return None
    cos_max = np.cos(np.radians(cfg.gravity_max_angle_deg))
    side = side[np.abs(level_normals(points[side], distance) @ up) >= cos_max]  # not walls
    if len(side) < least:
        return None
    # level-normal points are mostly level sheets: a quarter of the iterations still samples
    # three inliers of a sheet holding 30 % of them with probability 1 - 1e-6
    iterations = max(1, cfg.ransac_iterations // 4)
    planes = find_planes(points[side], distance, iterations, max_planes=6, min_frac=0.02)
    level = [(n if n @ up > 0 else -n, h if n @ up > 0 else -h, side[i]) for n, h, i in planes
             if abs(n @ up) >= cos_max and is_surface(points[side], n, h, distance)]  # fmt: skip
    if not level:
        return None
    return max(level, key=lambda p: len(p[2])) if above else min(level, key=lambda p: p[1])


def ceiling_glimpse(points: np.ndarray, sample: np.ndarray, up: np.ndarray, walls: list[Plane],
                    floor_z: float, cams: np.ndarray | None, distance: float,
                    cfg: AlignConfig) -> float | None:  # fmt: skip
    """Height (along `up`) of a ceiling seen only as a sliver, or None.

    Level-normal points high in the scene are mostly noise at the visible top of walls and
    furniture (where the view cuts them): any level band of them is not yet a ceiling. The
    candidate is the densest ±`distance` band of level-normal points of `points` (≥
    ``MIN_GLIMPSE``, and ≥ 3× as many as within the next `distance` on either side: dense on
    itself and sparse beside, as in `is_surface`) at or above every wall's visible top; it is a ceiling only with the evidence
    of one (`glimpse_objection`): above the cameras by a room's margin, nothing above it, off
    the walls' own surfaces, its normals consistently level, and spanning part of the room.
    `sample` holds the `walls`' inliers; `cams` (F,3) camera centres or None.
    """
    heights = points @ up
    tops = [float(np.percentile(sample[i] @ up, 99.9)) for _, _, i in walls]
    start = max(tops) - 2 * distance if tops else float(np.percentile(heights, 99.0))
    if cams is not None:  # below CEILING_OVER_CAMERAS × the cameras' height it is no ceiling
        start = max(start, floor_z + CEILING_OVER_CAMERAS * (float((cams @ up).max()) - floor_z))
    near = np.flatnonzero(heights >= start - distance)
    if len(near) < MIN_GLIMPSE:
        return None  # nothing above the walls' visible top
    cos_max = np.cos(np.radians(cfg.gravity_max_angle_deg))
    normals = level_normals(points[near], distance)
    level = np.abs(normals @ up) >= cos_max
    h = np.sort(heights[near][level])
    if len(h) < MIN_GLIMPSE or h[-1] < start:
        return None  # no level points above the walls' visible top
    centres = np.arange(start, h[-1] + distance / 2, distance / 2)

    def within(r: float) -> np.ndarray:  # level points within ±r of each centre
        return np.searchsorted(h, centres + r, "right") - np.searchsorted(h, centres - r, "left")

    counts = within(distance)
    best = int(np.argmax(counts))
    beside = within(2 * distance)[best] - counts[best]
    if counts[best] < max(MIN_GLIMPSE, 3 * beside):
        return None  # no level sheet above the walls' visible top
    c = centres[best]
    band = np.abs(heights[near] - c) <= distance
    c = float(np.median(heights[near][band & level]))
    why = glimpse_objection(points[near], normals, band & level, band, heights, c, sample, up,
                            walls, distance, cos_max)  # fmt: skip
    return None if why else c


def on_walls(points: np.ndarray, sample: np.ndarray, walls: list[Plane]) -> np.ndarray:
    """Mask of (N,3) `points` on a wall's surface: within 2σ of its plane, σ the robust
    thickness (1.4826 × MAD) of its inliers in `sample` (noise at a wall's visible top scatters
    about its plane as the wall's points do: 95 % within 2σ)."""
    on = np.zeros(len(points), bool)
    for n, h, inl in walls:
        d = sample[inl] @ n - h
        sigma = 1.4826 * float(np.median(np.abs(d - np.median(d))))
        on |= np.abs(points @ n - h) <= max(2 * sigma, 1e-12)
    return on


def ceiling_objection(plane: Plane, sample: np.ndarray, walls: list[Plane], up: np.ndarray,
                      distance: float, floor_h: float | None = None,
                      cams: np.ndarray | None = None) -> str | None:  # fmt: skip
    """Why level `plane` (normal `up`) is no ceiling, or None. A ceiling is where the walls end:
    no wall's visible top (99.9th height percentile of its inliers) is more than 2 × `distance`
    above it; nothing lies above it but stray noise (under ``GLIMPSE_ABOVE`` × its points; a
    shelf or a pelmet has the wall behind it rising on); under half of it lies on the walls'
    surfaces (`on_walls`: the band where a cut view ends them, thickened by noise); and, with
    `floor_h` and `cams` known, it is ≥ ``CEILING_OVER_CAMERAS`` × the highest camera's height
    above the floor."""
    heights = sample @ up
    c = float(np.median(heights[plane[2]]))
    if any(float(np.percentile(heights[i], 99.9)) > c + 2 * distance for _, _, i in walls):
        return "a wall rises above it"
    above = int((heights > c + 3 * distance).sum())
    if above > GLIMPSE_ABOVE * len(plane[2]):
        return f"{above} points lie above it ({len(plane[2])} on it)"
    share = float(on_walls(sample[plane[2]], sample, walls).mean())
    if share >= 0.5:
        return f"{share:.0%} of it lies on the walls' surfaces"
    over = None if floor_h is None or cams is None else float((cams @ up).max()) - floor_h
    if over is not None and c - floor_h < CEILING_OVER_CAMERAS * over:
        return "it is barely above the cameras"
    return None


def glimpse_objection(near: np.ndarray, normals: np.ndarray, sheet: np.ndarray, band: np.ndarray,
                      heights: np.ndarray, c: float, sample: np.ndarray, up: np.ndarray,
                      walls: list[Plane], distance: float, cos_max: float) -> str | None:  # fmt: skip
    """Why the level sheet `near[sheet]` at height `c` is no ceiling, or None.

    - Nothing above it: a ceiling bounds the room, so above it lies only its own stray noise
      (under ``GLIMPSE_ABOVE`` × its points); a band cut from a wall or curtain that goes on
      rising has that surface's points above it.
    - Off the walls' surfaces (`on_walls`): noise at a wall's visible top scatters about the
      wall's plane; a ceiling runs from the walls into the room. Under half of it may lie there.
    - Level normals dominate its band (≥ half of the points at its height off the walls, where
      noise has random normals and a wall's horizontal ones).
    - It spans ≥ ``GLIMPSE_SPAN`` of the scene's horizontal extent (5–95 % ranges): a glimpse
      runs along the top of the view; a lamp or a beam is a spot.
    """
    pts, n_sheet = near[sheet], int(sheet.sum())
    above = int((heights > c + 3 * distance).sum())
    if above > GLIMPSE_ABOVE * n_sheet:
        return f"{above} points lie above the level band at its height ({n_sheet} points)"
    on_wall = on_walls(near, sample, walls)
    if on_wall[sheet].mean() >= 0.5:
        return f"{on_wall[sheet].mean():.0%} of the level band lies on a wall's surface"
    off = band & ~on_wall
    share = float(sheet[off].sum() / max(off.sum(), 1))
    if share < 0.5:
        return f"only {share:.0%} of the points at its height face up or down"
    horizontal = np.linalg.svd(np.eye(3) - np.outer(up, up))[0][:, :2]  # two axes ⟂ up
    span = np.ptp(np.percentile(pts @ horizontal, [5, 95], axis=0), axis=0)
    extent = np.ptp(np.percentile(sample @ horizontal, [5, 95], axis=0), axis=0)
    if span.max() < GLIMPSE_SPAN * extent.max():
        return f"it spans {span.max() / extent.max():.0%} of the scene's width"
    return None


def manhattan_yaw(points: np.ndarray, rotation: np.ndarray, spacing: float) -> tuple[float, float]:
    """Yaw (rad) putting wall normals on ±x/±y after `rotation`, and the mean residual (°),
    from the normals of at most ``NORMAL_POINTS`` of `points`."""
    import open3d as o3d

    points = points[subsample(np.arange(len(points)), NORMAL_POINTS)]
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


def check_inputs(points: np.ndarray, cam2world: np.ndarray | None) -> np.ndarray:
    """The finite rows of `points` as float64 (N,3); StageFailure naming what is wrong with
    `points` or `cam2world` ((F,4,4), finite, rotations orthonormal with det +1)."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.issubdtype(pts.dtype, np.number):
        raise StageFailure(f"points must be a numeric (N,3) array, got {pts.dtype} {pts.shape}")
    pts = pts.astype(np.float64)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 100:
        raise StageFailure(f"too few finite points to align ({len(pts)})")
    if cam2world is not None:
        cams = np.asarray(cam2world)
        if cams.ndim != 3 or cams.shape[1:] != (4, 4) or not np.issubdtype(cams.dtype, np.number):
            raise StageFailure(f"cam2world must be (F,4,4), got {cams.dtype} {cams.shape}")
        if not np.isfinite(cams).all():
            raise StageFailure("cam2world holds non-finite values")
        r = cams[:, :3, :3].astype(np.float64)
        err = np.abs(r.transpose(0, 2, 1) @ r - np.eye(3)).max(initial=0.0)
        if err > 1e-3 or (len(r) and np.linalg.det(r).min() < 0):
            raise StageFailure("cam2world rotations are not rotations (orthonormal, det +1)")
    return pts


def up_sign(sample: np.ndarray, axis: np.ndarray, planes: list[Plane], distance: float,
            cos_max: float) -> tuple[np.ndarray, str]:  # fmt: skip
    """`axis` or −`axis`, whichever points up in a scene without cameras, and the evidence.

    Of the lowest and highest level planes along `axis`, one that bounds the scene (under 2 %
    of the points beyond it) while the other does not (10 % or more beyond it: walls rising
    past a table top) is the floor, and up points from it into the scene (``scene: bounded by
    the floor``; videos see floors far more often than ceilings). When both bound it (floor
    and ceiling), things rest on floors: the points between them that belong to neither nor
    to a wall crowd into the half beside the floor (``scene: what rests on the floor``) when
    60/40 or more. Otherwise (an empty box is the same both ways up) the input's own +z
    decides when the axis is within 45° of it (``input +z``), else the axis stays
    (``arbitrary``).
    """
    level = sorted(((n * np.sign(n @ axis), h * np.sign(n @ axis), i) for n, h, i in planes
                    if abs(n @ axis) >= cos_max and is_surface(sample, n, h, distance)),
                   key=lambda p: p[1])  # fmt: skip
    if level:
        low, high = level[0], level[-1]
        heights = sample @ low[0]  # along a plane's own normal: the axis is only a prior
        below = float((heights < low[1] - 3 * distance).mean())
        above = float((sample @ high[0] > high[1] + 3 * distance).mean())
        if min(below, above) < 0.02 and max(below, above) >= 0.1:
            return (axis if below < above else -axis), "scene: bounded by the floor"
        if max(below, above) < 0.02 and high[1] - low[1] > 6 * distance:
            taken = np.zeros(len(sample), bool)
            walls = [i for n, _, i in planes if abs(n @ axis) < np.sqrt(1 - cos_max**2)]
            for i in [low[2], high[2], *walls]:
                taken[i] = True
            t = (heights[~taken] - low[1]) / (high[1] - low[1])
            t = t[(t > 0.05) & (t < 0.95)]
            if len(t) >= max(50, 0.005 * len(sample)):
                lower = float((t < 0.5).mean())
                if abs(lower - 0.5) >= 0.1:
                    return (axis if lower > 0.5 else -axis), "scene: what rests on the floor"
    if abs(axis[2]) >= np.cos(np.pi / 4):
        return axis * np.sign(axis[2]), "input +z"
    return axis, "arbitrary"


def floor_objection(plane: Plane, sample: np.ndarray, walls: list[Plane], cams: np.ndarray | None,
                    distance: float, ceiling_seen: bool) -> str | None:  # fmt: skip
    """Why `plane` (normal up) cannot be the floor, or None.

    A floor has nothing below it: not 2 % of the points (a table has the floor, chairs and
    people's legs under it), and no wall reaching down past it (walls stand on the floor: a
    wall with 10 % of its points below is a wall beside a table). Walls stand on a floor and
    bound it (95 % of the floor on one side; the sides of a box on a table have the table on
    both sides): cameras under a quarter of the height of those walls above the plane are
    barely above it (people film rooms at 1-1.8 m in rooms under 3.5 m: 0.3 or more), and a
    plane with no wall standing on it and no ceiling over it (with cameras: nothing rising
    above them) is as much a tabletop seen from close by as a floor: neither is taken.
    """
    n, h, inliers = plane
    heights = sample @ n
    below = float((heights < h - 3 * distance).mean())
    if below >= 0.02:
        return f"{below:.0%} of the points lie below it"
    for _, _, inl in walls:
        wall_below = float((heights[inl] < h - 3 * distance).mean())
        if wall_below >= 0.1:
            return f"a wall reaches {wall_below:.0%} of its points below it"
    standing = []
    for wn, wh, inl in walls:
        side = np.mean(sample[inliers] @ wn > wh)
        if (heights[inl] <= h + 6 * distance).any() and max(side, 1 - side) >= 0.95:
            standing.append(inl)
    if cams is not None and standing:
        cam_h = float(np.median(cams @ n)) - h
        top = float(np.percentile(heights[np.concatenate(standing)], 99.0)) - h
        if cam_h < CAMERAS_ABOVE_FLOOR * top:
            return f"the cameras are barely above it ({cam_h / top:.2f} of the wall height)"
    if not standing:
        over = ceiling_seen
        if cams is not None:
            over = over or bool((heights > float((cams @ n).max()) + 3 * distance).any())
        if not over:
            return "no wall stands on it and nothing rises over it (a tabletop?)"
    return None


def align_cloud(
    points: np.ndarray, cam2world: np.ndarray | None, cfg: AlignConfig, seed: int = 0
) -> dict[str, Any]:
    """The similarity (rotation, translation, scale) into the aligned frame, and how it was found.

    `points` (N,3) in any frame and scale (non-finite rows are dropped); `cam2world` (F,4,4)
    OpenCV camera-to-world poses in the same frame, or None. Returns the JSON-able report of
    ``align.json``: rotation, translation, scale (aligned = scale · R · p + t), floor_z (0),
    ceiling_z (the measured ceiling's height, None when the scale is assumed), method,
    scale_source (``measured``: a ceiling or a ceiling glimpse; ``assumed``: wall tops or a
    camera height standing for it), scale_method, scale_basis (one sentence), up_source,
    residuals. Raises StageFailure with a one-line reason on bad input or no floor.
    """
    pts = check_inputs(points, cam2world)
    rng = np.random.default_rng(seed)
    sample = pts[rng.choice(len(pts), min(SAMPLE, len(pts)), replace=False)]
    measured = cloud_spacing(sample)
    if measured.spacing <= 0:
        raise StageFailure("degenerate cloud: all points coincide")
    sample = sample[distinct_mask(sample, measured.tolerance)]  # merged clouds: one of each
    spacing = measured.spacing
    prior = up_prior(sample, cam2world)
    cams = (
        None if cam2world is None or not len(cam2world) else cam2world[:, :3, 3].astype(np.float64)
    )
    noise = surface_noise(sample, spacing)  # the data's own surface thickness
    distance = max(cfg.ransac_distance_factor * spacing, NOISE_SIGMAS * noise)
    planes = find_planes(sample, distance, cfg.ransac_iterations)
    cos_max = np.cos(np.radians(cfg.gravity_max_angle_deg))
    up_source = "cameras"
    if cams is None:
        axis = scene_axis(sample, prior, planes, distance)
        prior, up_source = up_sign(sample, axis, planes, distance, cos_max)
    level = []
    for n, h, inl in planes:
        if abs(n @ prior) >= cos_max and is_surface(sample, n, h, distance):
            n, h = (n, h) if n @ prior > 0 else (-n, -h)
            level.append((n, h, inl))
    walls = [p for p in planes if abs(p[0] @ prior) < np.sin(np.radians(cfg.gravity_max_angle_deg))]

    def bounds_above(p: Plane) -> bool:  # a ceiling has next to nothing above it
        return float(((sample @ p[0]) > p[1] + 3 * distance).mean()) < 0.02

    if cams is not None:
        floors = [p for p in level if p[1] < (cams @ p[0]).min()]
        ceilings = [p for p in level if p[1] > (cams @ p[0]).max() and bounds_above(p)]
    else:  # the lowest level plane, and the highest when it bounds the scene
        level.sort(key=lambda p: p[1])
        floors, ceilings = level[:1], [p for p in level[1:][-1:] if bounds_above(p)]
    ceilings = [p for p in ceilings if ceiling_objection(p, sample, walls, p[0], distance) is None]
    found = search_level(sample, prior, cams, distance, cfg, above=False)
    floors += [found] if found is not None else []  # greedy RANSAC often misses a glimpsed floor
    objections = [floor_objection(p, sample, walls, cams, distance, bool(ceilings)) for p in floors]
    rejected = sorted((p[1], why) for p, why in zip(floors, objections, strict=True) if why)
    floors = [p for p, why in zip(floors, objections, strict=True) if why is None]
    best = max((len(p[2]) for p in floors), default=0)  # of planes that can be floors
    floors = [
        p for p in floors if len(p[2]) >= max(cfg.min_floor_support * best, 0.005 * len(sample))
    ]
    if not floors:
        why = f"; the lowest level plane: {rejected[0][1]}" if rejected else ""
        raise StageFailure(
            f"no floor plane found ({len(planes)} planes, {len(level)} level with the "
            f"{'cameras’' if cams is not None else 'scene’s'} up{why})"
        )
    floor = min(floors, key=lambda p: p[1])  # the lowest: beds and tables are level too

    def is_ceiling(p: Plane | None) -> bool:
        why = p is None or ceiling_objection(p, sample, walls, floor[0], distance, floor[1], cams)
        return why is None

    ceilings = [p for p in ceilings if is_ceiling(p)]
    ceiling = max(ceilings, key=lambda p: len(p[2])) if ceilings else None
    if ceiling is None:
        ceiling = search_level(sample, floor[0], cams, distance, cfg, above=True)
        ceiling = ceiling if is_ceiling(ceiling) and bounds_above(ceiling) else None
    up = floor[0]
    r_up = rotation_between(up, np.array([0.0, 0.0, 1.0]))
    yaw, manhattan_res = (
        manhattan_yaw(sample, r_up, spacing) if cfg.manhattan else (0.0, float("nan"))
    )
    rz = np.array([[np.cos(-yaw), -np.sin(-yaw), 0], [np.sin(-yaw), np.cos(-yaw), 0], [0, 0, 1]])
    rotation = rz @ r_up
    z = sample @ rotation[2]
    floor_z = float(np.median(z[floor[2]]))
    scale_method = "ceiling"
    if ceiling is not None:
        top = float(np.median(z[ceiling[2]]))
    else:
        wall_pts = [inl for _, _, inl in walls]
        top = float(np.percentile(z[np.concatenate(wall_pts)] if wall_pts else z, 99.0))
        glimpse = ceiling_glimpse(pts, sample, rotation[2], walls, floor_z, cams, distance, cfg)
        top, scale_method = (top, "wall-top") if glimpse is None else (glimpse, "ceiling-glimpse")
        if cams is not None:
            cam_h = float(np.median(cams @ rotation[2])) - floor_z
            if top - floor_z < 1.3 * cam_h:
                top, scale_method = (
                    floor_z + cam_h * cfg.wall_height_m / CAMERA_HEIGHT_M,
                    "camera-height",
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
    source = "measured" if scale_method in MEASURED else "assumed"
    return {
        "rotation": rotation.tolist(),
        "translation": translation.tolist(),
        "scale": float(scale),
        "floor_z": 0.0,
        "ceiling_z": float(cfg.wall_height_m) if source == "measured" else None,
        "method": f"floor+{scale_method}",
        "scale_source": source,
        "scale_method": scale_method,
        "scale_basis": scale_basis(scale_method, cfg),
        "up_source": up_source,
        "residuals": {
            "floor_rms_m": floor_rms,
            "floor_inlier_frac": len(floor[2]) / len(sample),
            "up_prior_angle_deg": float(np.degrees(np.arccos(np.clip(up @ prior, -1, 1)))),
            "manhattan_deg": manhattan_res,
            "planes": len(planes),
            "plane_distance": float(distance * scale),
        },
    }


def scale_basis(scale_method: str, cfg: AlignConfig) -> str:
    """One sentence saying what the scale rests on, measured or assumed (never mixing them)."""
    h = cfg.wall_height_m
    return {
        "ceiling": f"measured: floor to ceiling, scaled to {h:.2f} m",
        "ceiling-glimpse": f"measured: floor to a glimpsed ceiling, scaled to {h:.2f} m",
        "wall-top": f"assumed: no ceiling seen, the walls' visible top taken as {h:.2f} m",
        "camera-height": f"assumed: no ceiling or wall tops seen, cameras taken as "
        f"{CAMERA_HEIGHT_M:.2f} m above the floor",
    }[scale_method]


def align(root: DataRoot, clip: str, cfg: AlignConfig) -> StageResult:
    """Write the clip's align.json from its cleaned cloud and cameras."""
    cloud = read_cloud(root.cloud_npz(clip))
    cams = read_recon(root.recon_npz(clip))["cam2world"]
    report = align_cloud(cloud["points"], cams, cfg)
    write_align(root.align_json(clip), report)
    provenance = ("method", "scale_source", "scale_method", "up_source")
    return StageResult(
        {"scale": report["scale"], **{k: report[k] for k in provenance}, **report["residuals"]}
    )


def run(root: DataRoot, cfg: Config, clip: str, *, force: bool = False) -> Marker:
    """The align stage of one clip."""
    return run_item_stage(root, cfg, clip, STAGE, lambda: align(root, clip, cfg.align), force=force)


align_task = task(name="align")(run)
