"""Ray-cast rendering of a scene: metric z-depth, NYU labels and a shaded, textured colour image.

Rays go through pixel centres with camera-frame directions of z = 1 (``models.geometry.
pixel_rays``), so Open3D's hit distance is the z-depth itself. Colour is a function of the hit
point only (procedural value-noise texture in the surface's plane, times the triangle's tint,
times a fixed Lambert light), so the same surface point has the same colour in every view and
the truth agrees with the pixels. Rays that hit nothing see a sky gradient, depth 0, label 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from models.geometry import pixel_rays
from tasks.synth.scene import raycasting_scene, scene_mesh

LIGHT = np.array([0.35, 0.55, 0.76]) / np.linalg.norm([0.35, 0.55, 0.76])
SKY_TOP, SKY_HORIZON = np.array([60, 110, 200.0]), np.array([190, 215, 240.0])


@dataclass
class Renderable:
    """A scene ready to cast: the Open3D scene plus per-triangle labels and tints."""

    scene: o3d.t.geometry.RaycastingScene
    labels: np.ndarray
    tints: np.ndarray
    seed: int


def renderable(scene: dict, seed: int = 0) -> Renderable:
    """Build the ray-casting scene of a scene description once (reused for every frame)."""
    _, _, labels, tints = scene_mesh(scene)
    return Renderable(raycasting_scene(scene), labels, tints, seed + 7919 * int(scene["index"]))


def _hash(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """A value in [0, 1) per integer lattice point (i, j)."""
    h = (i * 73856093) ^ (j * 19349663) ^ (seed * 83492791 + 12345)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65536.0


def value_noise(a: np.ndarray, b: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """Bilinearly interpolated lattice noise in [0, 1) with lattice spacing `cell` metres."""
    x, y = a / cell, b / cell
    i, j = np.floor(x), np.floor(y)
    fx, fy = (x - i).astype(np.float32), (y - j).astype(np.float32)
    i, j = i.astype(np.int64), j.astype(np.int64)
    n00, n10 = _hash(i, j, seed), _hash(i + 1, j, seed)
    n01, n11 = _hash(i, j + 1, seed), _hash(i + 1, j + 1, seed)
    return (n00 * (1 - fx) + n10 * fx) * (1 - fy) + (n01 * (1 - fx) + n11 * fx) * fy


def texture(points: np.ndarray, normals: np.ndarray, seed: int) -> np.ndarray:
    """Brightness in about [0.35, 1] of surface points: two octaves of noise in the surface plane."""
    axis = np.abs(normals).argmax(axis=1)
    a = np.where(axis == 0, points[:, 1], points[:, 0])
    b = np.where(axis == 2, points[:, 1], points[:, 2])
    plane = axis * 1000 + seed
    coarse = value_noise(a + 3.1 * plane, b, 0.35, seed)
    fine = value_noise(a, b + 1.7 * plane, 0.06, seed + 1)
    return 0.35 + 0.4 * coarse + 0.25 * fine


def cast(
    r: Renderable, K: np.ndarray, cam2world: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth (H,W) f32, labels (H,W) u8 and colour (H,W,3) u8 of one view."""
    dirs = pixel_rays(K, height, width).reshape(-1, 3) @ np.asarray(cam2world)[:3, :3].T
    origin = np.broadcast_to(np.asarray(cam2world)[:3, 3], dirs.shape)
    rays = np.concatenate([origin, dirs], axis=1).astype(np.float32)
    ans = r.scene.cast_rays(o3d.core.Tensor(rays), nthreads=0)
    t = ans["t_hit"].numpy()
    prim = ans["primitive_ids"].numpy()
    hit = np.isfinite(t)
    depth = np.where(hit, t, 0).astype(np.float32)
    idx = np.where(hit, prim, 0).astype(np.int64)
    labels = np.where(hit, r.labels[idx], 0).astype(np.uint8)
    normals = ans["primitive_normals"].numpy()
    points = origin + dirs * depth[:, None]
    shade = 0.5 + 0.5 * np.abs(normals @ LIGHT)
    rgb = (
        r.tints[idx[hit]] * (texture(points[hit], normals[hit], r.seed) * shade[hit])[:, None] * 255
    )
    colour = np.empty((len(t), 3), np.float32)
    up = dirs[:, 2] / np.linalg.norm(dirs, axis=1)
    mix = np.clip(up, 0, 1)[:, None]
    colour[:] = SKY_HORIZON * (1 - mix) + SKY_TOP * mix
    colour[hit] = rgb
    shape = (height, width)
    return (
        depth.reshape(shape),
        labels.reshape(shape),
        np.clip(colour, 0, 255).astype(np.uint8).reshape(*shape, 3),
    )
