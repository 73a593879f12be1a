"""Camera and voxel-grid geometry shared by every stage (numpy, vectorised).

Conventions: OpenCV camera axes (x right, y down, z forward), cam2world 4×4 matrices, z-up
metric world, voxel grids indexed [x, y, z] from their min corner ``origin``.
"""

from __future__ import annotations

import numpy as np


def pixel_rays(K: np.ndarray, height: int, width: int) -> np.ndarray:
    """Camera-frame directions with z = 1 through every pixel centre, shape (H, W, 3)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    x = (u + 0.5 - K[0, 2]) / K[0, 0]
    y = (v + 0.5 - K[1, 2]) / K[1, 1]
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def backproject(
    depth: np.ndarray, K: np.ndarray, cam2world: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """World points of the pixels with depth > 0 (and `mask`); returns (points (N,3), flat pixel ids)."""
    h, w = depth.shape
    valid = np.isfinite(depth) & (depth > 0)
    if mask is not None:
        valid &= mask
    pix = np.flatnonzero(valid)
    cam = pixel_rays(K, h, w).reshape(-1, 3)[pix] * depth.reshape(-1)[pix, None]
    return transform_points(cam2world, cam).astype(np.float32), pix.astype(np.int64)


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4×4 transform (rotation may include scale) to (N,3) points."""
    T = np.asarray(T, np.float64)
    return np.asarray(points, np.float64) @ T[:3, :3].T + T[:3, 3]


def voxel_indices(
    points: np.ndarray, origin: np.ndarray, voxel_size: float, dims: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Integer [x,y,z] voxel of each point and a mask of the points inside the grid."""
    ijk = np.floor((np.asarray(points, np.float64) - np.asarray(origin, np.float64)) / voxel_size)
    inside = np.all((ijk >= 0) & (ijk < np.asarray(dims)), axis=1) & np.all(
        np.isfinite(ijk), axis=1
    )
    return np.where(inside[:, None], ijk, -1).astype(np.int64), inside  # NaN never cast


def flat_index(ijk: np.ndarray, dims: tuple[int, int, int]) -> np.ndarray:
    """Row-major flat index of [x,y,z] voxel coordinates in a grid of `dims`."""
    return np.ravel_multi_index((ijk[:, 0], ijk[:, 1], ijk[:, 2]), dims)


def voxel_flat(
    points: np.ndarray, origin: np.ndarray, voxel_size: float, dims: tuple[int, int, int]
) -> np.ndarray:
    """Row-major flat voxel index of each point, -1 outside the grid (or not finite).

    Same voxels as `voxel_indices` + `flat_index`, one column at a time (no (N,3) temporaries):
    the hot path of majority voting and ray marking.
    """
    pts = np.asarray(points)
    flat = np.zeros(len(pts), np.int64)
    inside = np.ones(len(pts), bool)
    strides = (dims[1] * dims[2], dims[2], 1)
    for axis in range(3):
        q = (pts[:, axis] - float(origin[axis])) / voxel_size
        inside &= (q >= 0) & (q < dims[axis])  # NaN compares False: dropped
        flat += np.where(inside, q, 0).astype(np.int64) * strides[axis]
    flat[~inside] = -1
    return flat


def majority_grid(
    points: np.ndarray,
    labels: np.ndarray,
    origin: np.ndarray,
    voxel_size: float,
    dims: tuple[int, int, int],
    num_classes: int = 11,
) -> tuple[np.ndarray, np.ndarray]:
    """Per voxel the class with most points (ties → smaller id; 0 where none) and point counts.

    Labels 0 (unlabelled) count as occupancy but never win a class; a voxel holding only
    unlabelled points gets label 0 and a count > 0, so callers can tell it from empty space.
    """
    labels = np.asarray(labels)
    if len(labels) and (labels.min() < 0 or labels.max() > num_classes):
        raise ValueError(f"labels outside 0..{num_classes} ({labels.min()}..{labels.max()})")
    flat = voxel_flat(points, origin, voxel_size, dims)
    n_vox, width = int(np.prod(dims)), num_classes + 1
    # one bincount: outside points land in a dump bin past the end
    slot = np.where(flat >= 0, flat * width + labels, n_vox * width)
    votes = np.bincount(slot, minlength=n_vox * width + 1)[:-1].reshape(n_vox, width)
    counts = votes.sum(axis=1)
    votes = votes[:, 1:]
    best = votes.argmax(axis=1) + 1  # argmax returns the first maximum: ties → smaller id
    best[votes.max(axis=1) == 0] = 0
    return best.reshape(dims).astype(np.uint8), counts.reshape(dims)


def ray_free_space(
    depth: np.ndarray,
    K: np.ndarray,
    cam2world: np.ndarray,
    origin: np.ndarray,
    voxel_size: float,
    dims: tuple[int, int, int],
    stride: int = 2,
    max_depth: float = 10.0,
) -> np.ndarray:
    """Voxels crossed by the camera's rays before the observed depth (bool grid).

    Rays through every `stride`-th pixel are sampled every half voxel from the camera up to
    one voxel short of the hit, so the surface voxel itself is never marked free.
    """
    h, w = depth.shape
    rays = pixel_rays(K, h, w)[::stride, ::stride].reshape(-1, 3)
    d = depth[::stride, ::stride].reshape(-1)
    ok = np.isfinite(d) & (d > 0)
    rays, d = rays[ok], np.minimum(d[ok], max_depth)
    norm = np.linalg.norm(rays, axis=1)
    reach = d * norm - voxel_size  # distance along the ray to stop at
    step = voxel_size / 2
    n_steps = int(np.ceil(max(reach.max(initial=0.0), 0.0) / step))
    free = np.zeros(int(np.prod(dims)), bool)
    if n_steps == 0:
        return free.reshape(dims)
    dirs_world = (rays / norm[:, None]) @ np.asarray(cam2world, np.float64)[:3, :3].T
    centre = np.asarray(cam2world, np.float64)[:3, 3]
    for chunk in np.array_split(np.arange(n_steps), max(1, n_steps // 32)):
        t = (chunk + 0.5) * step  # (S,)
        pts = centre + dirs_world[:, None, :] * t[None, :, None]  # (R,S,3)
        valid = (t[None, :] < reach[:, None]).reshape(-1)
        flat = voxel_flat(pts.reshape(-1, 3), origin, voxel_size, dims)
        free[flat[valid & (flat >= 0)]] = True
    return free.reshape(dims)


def median_spacing(points: np.ndarray, sample: int = 20000, seed: int = 0) -> float:
    """Median nearest-neighbour distance of (a random sample of) a cloud: its natural scale."""
    from scipy.spatial import cKDTree

    pts = np.asarray(points, np.float64)
    if len(pts) < 2:
        return 0.0
    idx = np.random.default_rng(seed).choice(len(pts), min(sample, len(pts)), replace=False)
    dist, _ = cKDTree(pts).query(pts[idx], k=2)
    return float(np.median(dist[:, 1]))
