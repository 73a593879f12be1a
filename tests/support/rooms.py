"""Analytic box rooms as point clouds with labels and cameras, for geometry tests."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def camera_pose(position: np.ndarray, yaw: float, pitch: float = 0.0) -> np.ndarray:
    """cam2world of an OpenCV camera at `position` looking horizontally along `yaw` (z-up world)."""
    fwd = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.cross(fwd, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, fwd], axis=1)
    pose[:3, 3] = position
    return pose


def box_room(size=(5.0, 4.0), height: float = 2.8, spacing: float = 0.03, seed: int = 0,
             walls: bool = True, ceiling: bool = True):  # fmt: skip
    """Points (N,3) and NYU labels on floor, ceiling, walls and a table; 6 cameras at 1.5 m."""
    rng = np.random.default_rng(seed)
    w, d = size

    def patch(n_u, n_v, f):
        u, v = np.meshgrid(np.linspace(0, 1, n_u), np.linspace(0, 1, n_v))
        return f(u.ravel(), v.ravel())

    nu, nv, nh = int(w / spacing), int(d / spacing), int(height / spacing)
    parts = [(patch(nu, nv, lambda u, v: np.c_[u * w, v * d, 0 * u]), 2)]
    if ceiling:
        parts.append((patch(nu, nv, lambda u, v: np.c_[u * w, v * d, 0 * u + height]), 1))
    if walls:
        parts += [
            (patch(nu, nh, lambda u, v: np.c_[u * w, 0 * u, v * height]), 3),
            (patch(nu, nh, lambda u, v: np.c_[u * w, 0 * u + d, v * height]), 3),
            (patch(nv, nh, lambda u, v: np.c_[0 * u, u * d, v * height]), 3),
            (patch(nv, nh, lambda u, v: np.c_[0 * u + w, u * d, v * height]), 3),
        ]
    parts.append((patch(30, 20, lambda u, v: np.c_[1 + u * 1.2, 1 + v * 0.8, 0 * u + 0.75]), 8))
    points = np.concatenate([p for p, _ in parts])
    labels = np.concatenate([np.full(len(p), c, np.uint8) for p, c in parts])
    points = points + rng.normal(0, spacing * 0.1, points.shape)
    cams = np.stack([camera_pose(np.array([w / 2 + 0.3 * np.cos(a), d / 2 + 0.3 * np.sin(a), 1.5]), a)
                     for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)])  # fmt: skip
    return points, labels, cams


def random_similarity(seed: int = 0, scale_range=(0.2, 3.0)) -> np.ndarray:
    """A random 4×4 similarity (rotation, scale, translation): what DUSt3R's frame looks like."""
    rng = np.random.default_rng(seed)
    m = np.eye(4)
    m[:3, :3] = rng.uniform(*scale_range) * Rotation.random(random_state=seed).as_matrix()
    m[:3, 3] = rng.normal(0, 3, 3)
    return m


def transform_poses(sim: np.ndarray, cam2world: np.ndarray) -> np.ndarray:
    """Rigid camera poses moved by a similarity (scale goes into positions only)."""
    s = np.cbrt(np.linalg.det(sim[:3, :3]))
    r = sim[:3, :3] / s
    out = cam2world.copy()
    out[:, :3, :3] = r @ cam2world[:, :3, :3]
    out[:, :3, 3] = cam2world[:, :3, 3] @ sim[:3, :3].T + sim[:3, 3]
    return out
