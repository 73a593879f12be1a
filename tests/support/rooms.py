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


def rectangle(lo, hi, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Points on an axis-aligned rectangle from corner `lo` to `hi` (one extent zero), spaced
    `spacing` apart with 10 % jitter."""
    axes = [
        np.arange(a, b + 1e-9, spacing) if b > a else np.array([a])
        for a, b in zip(lo, hi, strict=True)
    ]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return grid + rng.normal(0, spacing * 0.1, grid.shape)


def open_box(lo, hi, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Top and four sides of an axis-aligned box (a cabinet, a chair seat, a toy)."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    faces = [((x0, y0, z1), (x1, y1, z1)), ((x0, y0, z0), (x0, y1, z1)),
             ((x1, y0, z0), (x1, y1, z1)), ((x0, y0, z0), (x1, y0, z1)),
             ((x0, y1, z0), (x1, y1, z1))]  # fmt: skip
    return np.concatenate([rectangle(a, b, spacing, rng) for a, b in faces])


def table_in_room(floor_seen: bool, spacing: float = 0.04, seed: int = 0):
    """A 5 × 4 × 2.8 m room seen without its ceiling: walls, a 2 × 1.2 m dining table at
    0.75 m (densely seen), four chairs around it, and the floor either fully seen or hidden
    (a view cut above it); cameras at 1.5 m looking down at the table. Returns points, cams."""
    rng = np.random.default_rng(seed)
    w, d, h = 5.0, 4.0, 2.8
    parts = [rectangle((0, 0, 0), (w, 0, h), spacing, rng),
             rectangle((0, d, 0), (w, d, h), spacing, rng),
             rectangle((0, 0, 0), (0, d, h), spacing, rng),
             rectangle((w, 0, 0), (w, d, h), spacing, rng),
             rectangle((1.5, 1.4, 0.75), (3.5, 2.6, 0.75), spacing / 2, rng)]  # fmt: skip
    for cx, cy in ((1.2, 2.0), (3.8, 2.0), (2.5, 1.1), (2.5, 2.9)):
        parts.append(open_box((cx - 0.2, cy - 0.2, 0), (cx + 0.2, cy + 0.2, 0.45), spacing, rng))
    if floor_seen:
        parts.append(rectangle((0, 0, 0), (w, d, 0), spacing, rng))
    cams = np.stack([camera_pose(np.array([2.5 + np.cos(a), 2.0 + np.sin(a), 1.5]), a + np.pi, -0.5)
                     for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)])  # fmt: skip
    return np.concatenate(parts), cams


def table_alone(spacing: float = 0.01, seed: int = 0):
    """A toy on a 1.2 × 0.8 m tabletop photographed from 0.4 m above it all around, nothing
    else seen (a sparse SfM cloud of an object): points, cams."""
    rng = np.random.default_rng(seed)
    pts = np.concatenate([rectangle((-0.6, -0.4, 0), (0.6, 0.4, 0), spacing, rng),
                          open_box((-0.08, -0.05, 0), (0.08, 0.05, 0.15), spacing / 2, rng)])  # fmt: skip
    cams = np.stack([camera_pose(np.array([0.5 * np.cos(a), 0.5 * np.sin(a), 0.4]), a + np.pi, -0.6)
                     for a in np.linspace(0, 2 * np.pi, 12, endpoint=False)])  # fmt: skip
    return pts, cams


def desk_up_close(spacing: float = 0.04, seed: int = 0):
    """A desk at 0.75 m against walls seen from 0.9 m up, cameras 0.3 m above the desk."""
    rng = np.random.default_rng(seed)
    w, d, h = 4.0, 3.0, 2.8
    pts = np.concatenate([rectangle((0, d, 0.9), (w, d, h), spacing, rng),
                          rectangle((0, 0, 0.9), (0, d, h), spacing, rng),
                          rectangle((w, 0, 0.9), (w, d, h), spacing, rng),
                          rectangle((0.5, 1.8, 0.75), (3.5, 3.0, 0.75), spacing / 2, rng)])  # fmt: skip
    cams = np.stack([camera_pose(np.array([1.0 + 0.5 * i, 1.6, 1.05]), np.pi / 2, -0.3)
                     for i in range(5)])  # fmt: skip
    return pts, cams


def floor_seen_from_above(spacing: float = 0.04, seed: int = 0):
    """A floor with a cabinet, walls seen up to 1 m (the view cut there), cameras at 1.5 m
    pitched down: a floor whose scale only a camera height can give."""
    rng = np.random.default_rng(seed)
    w, d = 4.0, 3.0
    pts = np.concatenate([rectangle((0, 0, 0), (w, d, 0), spacing, rng),
                          rectangle((0, d, 0), (w, d, 1.0), spacing, rng),
                          rectangle((0, 0, 0), (0, d, 1.0), spacing, rng),
                          rectangle((w, 0, 0), (w, d, 1.0), spacing, rng),
                          open_box((1, 1, 0), (2, 1.5, 0.45), spacing, rng)])  # fmt: skip
    cams = np.stack([camera_pose(np.array([1.0 + 0.5 * i, 0.5, 1.5]), np.pi / 2, -0.35)
                     for i in range(5)])  # fmt: skip
    return pts, cams
