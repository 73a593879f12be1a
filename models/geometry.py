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
    return ijk.astype(np.int64, copy=False), inside


def flat_index(ijk: np.ndarray, dims: tuple[int, int, int]) -> np.ndarray:
    """Row-major flat index of [x,y,z] voxel coordinates in a grid of `dims`."""
    return np.ravel_multi_index((ijk[:, 0], ijk[:, 1], ijk[:, 2]), dims)
