"""Ray-cast rendering of a scene: metric z-depth, NYU labels and a shaded, textured colour image.

Rays go through pixel centres with camera-frame directions of z = 1 (``models.geometry.
pixel_rays``), so Open3D's hit distance is the z-depth itself. Colour is a function of the hit
point only (procedural value-noise texture in the surface's plane, times the triangle's tint,
times a fixed Lambert light), so the same surface point has the same colour in every view and
the truth agrees with the pixels. Rays that hit nothing see a sky gradient, depth 0, label 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import open3d as o3d

from models.geometry import pixel_rays
from tasks.synth.scene import raycasting_scene, scene_mesh

LIGHT = (np.array([0.35, 0.55, 0.76]) / np.linalg.norm([0.35, 0.55, 0.76])).astype(np.float32)
SKY_TOP = np.array([60, 110, 200], np.float32)
SKY_HORIZON = np.array([190, 215, 240], np.float32)


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
    """A value in [0, 1) per integer lattice point (i, j) (uint32 arithmetic wraps on purpose)."""
    h = i.astype(np.uint32) * np.uint32(73856093) ^ j.astype(np.uint32) * np.uint32(19349663)
    h ^= np.uint32((seed * 83492791 + 12345) & 0xFFFFFFFF)
    h = (h ^ (h >> np.uint32(13))) * np.uint32(1274126177)
    return ((h ^ (h >> np.uint32(16))) & np.uint32(0xFFFF)).astype(np.float32) / 65536.0


def value_noise(a: np.ndarray, b: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """Bilinearly interpolated lattice noise in [0, 1) with lattice spacing `cell` metres."""
    x, y = a / np.float32(cell), b / np.float32(cell)
    i, j = np.floor(x), np.floor(y)
    fx, fy = x - i, y - j
    i, j = i.astype(np.int32), j.astype(np.int32)
    n00, n10 = _hash(i, j, seed), _hash(i + 1, j, seed)
    n01, n11 = _hash(i, j + 1, seed), _hash(i + 1, j + 1, seed)
    return (n00 + (n10 - n00) * fx) * (1 - fy) + (n01 + (n11 - n01) * fx) * fy


def texture(points: np.ndarray, normals: np.ndarray, seed: int) -> np.ndarray:
    """Brightness in [0.35, 1] of surface points: two octaves of noise in the surface plane."""
    axis = np.abs(normals).argmax(axis=1)
    a = np.where(axis == 0, points[:, 1], points[:, 0])
    b = np.where(axis == 2, points[:, 1], points[:, 2])
    a = a + np.float32(37.1) * axis.astype(
        np.float32
    )  # each plane orientation gets its own pattern
    coarse = value_noise(a, b, 0.35, seed)
    fine = value_noise(a, b, 0.06, seed + 1)
    return 0.35 + 0.4 * coarse + 0.25 * fine


@lru_cache(maxsize=8)
def _camera_rays(K_bytes: bytes, height: int, width: int) -> np.ndarray:
    """Camera-frame z = 1 rays of every pixel, (H*W, 3) float32, cached per intrinsics."""
    K = np.frombuffer(K_bytes, np.float64).reshape(3, 3)
    return pixel_rays(K, height, width).reshape(-1, 3).astype(np.float32)


def cast(
    r: Renderable, K: np.ndarray, cam2world: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth (H,W) f32, labels (H,W) u8 and colour (H,W,3) u8 of one view."""
    pose = np.asarray(cam2world, np.float32)
    cam = _camera_rays(np.asarray(K, np.float64).tobytes(), height, width)
    R = pose[:3, :3]  # elementwise, not BLAS: its threads fight Open3D's for the 2 cores
    dirs = cam[:, :1] * R[:, 0] + cam[:, 1:2] * R[:, 1] + R[:, 2]
    rays = np.empty((len(cam), 6), np.float32)
    rays[:, :3] = pose[:3, 3]
    rays[:, 3:] = dirs
    ans = r.scene.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=0)
    t = ans["t_hit"].numpy()
    hit = np.isfinite(t)
    depth = np.where(hit, t, np.float32(0))
    idx = ans["primitive_ids"].numpy()[hit].astype(np.int64)
    labels = np.zeros(len(t), np.uint8)
    labels[hit] = r.labels[idx]
    points = pose[:3, 3] + dirs[hit] * t[hit, None]
    normals = ans["primitive_normals"].numpy()[hit]
    lit = normals[:, 0] * LIGHT[0] + normals[:, 1] * LIGHT[1] + normals[:, 2] * LIGHT[2]
    shade = np.float32(0.5) + np.float32(0.5) * np.abs(lit)
    colour = np.empty((len(t), 3), np.float32)
    colour[hit] = r.tints[idx] * (texture(points, normals, r.seed) * shade * 255)[:, None]
    sky = dirs[~hit]
    mix = np.clip(sky[:, 2] / np.sqrt((sky * sky).sum(axis=1)), 0, 1)[:, None]
    colour[~hit] = SKY_HORIZON * (1 - mix) + SKY_TOP * mix
    shape = (height, width)
    return (
        depth.reshape(shape),
        labels.reshape(shape),
        np.clip(colour, 0, 255).astype(np.uint8).reshape(*shape, 3),
    )
