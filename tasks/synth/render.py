"""Ray-cast rendering of a scene: metric z-depth, NYU labels and a shaded, textured colour image.

Rays go through pixel centres with camera-frame directions of z = 1 (``models.geometry.
pixel_rays``), so Open3D's hit distance is the z-depth itself. Colour is a function of the hit
point only (procedural value-noise texture in the surface's plane, times the triangle's tint,
times a fixed Lambert light), so the same surface point has the same colour in every view and
the truth agrees with the pixels. Rays that hit nothing see a sky gradient, depth 0, label 0.

Speed: every per-pixel step runs on all pixels at once with no boolean-mask copies; whatever
depends on the triangle only (label, tint × light, texture plane) is a per-triangle table
gathered by primitive id, with misses mapped to one extra "sky" row. Processes that render
(the CLI, the benches) reuse freed heap (``models.heap``) rather than map arrays afresh.
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
LATTICE = 256
"""Side of the noise lattice tables (a power of two: lattice indices wrap with a bit mask)."""
CELLS = (0.35, 0.06)
"""Lattice spacing (m) of the coarse and fine texture octaves."""
WEIGHTS = (0.4, 0.25)
"""Amplitude of each octave; brightness = 0.35 + Σ weight × noise, in [0.35, 1]."""


@dataclass
class Renderable:
    """A scene ready to cast: the Open3D scene plus per-triangle tables (last row: a miss)."""

    scene: o3d.t.geometry.RaycastingScene
    labels: np.ndarray  # (T+1,) uint8 NYU id, 0 for a miss
    albedo: np.ndarray  # (T+1, 3) float32 tint × Lambert shade × 255
    plane: np.ndarray  # (T+1,) int8 axis of the triangle's normal (texture plane)
    noise: tuple[np.ndarray, ...]  # one flat (LATTICE²,) float32 table per octave


def _triangle_tables(normals: np.ndarray, labels: np.ndarray, tints: np.ndarray):
    """Per-triangle label, shaded albedo and normal axis, with one trailing row for misses."""
    lit = np.abs(normals @ LIGHT)
    albedo = tints * (0.5 + 0.5 * lit)[:, None] * 255
    plane = np.abs(normals).argmax(axis=1)
    return (
        np.append(labels, 0).astype(np.uint8),
        np.vstack([albedo, np.zeros((1, 3))]).astype(np.float32),
        np.append(plane, 0).astype(np.int8),
    )


def noise_tables(seed: int) -> tuple[np.ndarray, ...]:
    """Random lattice values in [0, 1) per octave, fixed by `seed` (the texture's whole state)."""
    rng = np.random.default_rng([seed, 0x7E57])
    return tuple(rng.random(LATTICE * LATTICE, np.float32) for _ in CELLS)


def renderable(scene: dict, seed: int = 0) -> Renderable:
    """Build the ray-casting scene of a scene description once (reused for every frame)."""
    v, t, labels, tints = scene_mesh(scene)
    e1, e2 = v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]
    normals = np.cross(e1, e2)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return Renderable(
        raycasting_scene(v, t),
        *_triangle_tables(normals, labels, tints),
        noise_tables(seed + 7919 * int(scene["index"])),
    )


def value_noise(a: np.ndarray, b: np.ndarray, cell: float, table: np.ndarray) -> np.ndarray:
    """Bilinearly interpolated lattice noise in [0, 1) with lattice spacing `cell` metres."""
    x, y = a * np.float32(1 / cell), b * np.float32(1 / cell)
    fi, fj = np.floor(x), np.floor(y)
    fx, fy = x - fi, y - fj
    mask = LATTICE - 1
    i, j = fi.astype(np.int32), fj.astype(np.int32)
    r0, r1 = (i & mask) * LATTICE, ((i + 1) & mask) * LATTICE
    c0, c1 = j & mask, (j + 1) & mask
    n00, n10 = table.take(r0 + c0), table.take(r1 + c0)
    n01, n11 = table.take(r0 + c1), table.take(r1 + c1)
    top = n00 + (n10 - n00) * fx
    return top + (n01 + (n11 - n01) * fx - top) * fy


def texture(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, plane: np.ndarray, noise: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Brightness in [0.35, 1] of surface points (x, y, z) whose normals lie along axis `plane`."""
    a = np.where(plane == 0, y, x)
    a += np.float32(37.1) * plane  # each plane orientation gets its own pattern
    b = np.where(plane == 2, y, z)
    out = np.full(len(x), np.float32(0.35))
    for cell, weight, table in zip(CELLS, WEIGHTS, noise, strict=True):
        out += np.float32(weight) * value_noise(a, b, cell, table)
    return out


@lru_cache(maxsize=8)
def _camera_rays(K_bytes: bytes, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y (z = 1) of every pixel's camera-frame ray, each (H*W,) float32, per intrinsics."""
    K = np.frombuffer(K_bytes, np.float64).reshape(3, 3)
    rays = pixel_rays(K, height, width).reshape(-1, 3).astype(np.float32)
    return np.ascontiguousarray(rays[:, 0]), np.ascontiguousarray(rays[:, 1])


def cast_geometry(
    r: Renderable, K: np.ndarray, cam2world: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Camera centre, flat world ray directions (x, y, z columns), z-depth (0 on a miss) and hit
    triangle (the tables' last row on a miss) of every pixel."""
    pose = np.asarray(cam2world, np.float32)
    x, y = _camera_rays(np.asarray(K, np.float64).tobytes(), height, width)
    R, origin = pose[:3, :3], pose[:3, 3]
    rays = np.empty((len(x), 6), np.float32)
    rays[:, :3] = origin
    dirs = []  # per axis on contiguous columns: 6× faster than broadcasting into the (N,6) view
    for k in range(3):
        d = x * R[k, 0]
        d += y * R[k, 1]
        d += R[k, 2]
        rays[:, 3 + k] = d
        dirs.append(d)
    ans = r.scene.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=0)
    miss_row = np.uint32(len(r.labels) - 1)
    tri = np.minimum(ans["primitive_ids"].numpy(), miss_row)
    depth = np.where(tri < miss_row, ans["t_hit"].numpy(), np.float32(0))
    return origin, tuple(dirs), depth, tri


def cast(
    r: Renderable, K: np.ndarray, cam2world: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth (H,W) f32, labels (H,W) u8 and colour (H,W,3) u8 of one view."""
    origin, dirs, depth, tri = cast_geometry(r, K, cam2world, height, width)
    px, py, pz = (d * depth + o for d, o in zip(dirs, origin, strict=True))
    colour = r.albedo.take(tri, axis=0)
    colour *= texture(px, py, pz, r.plane.take(tri), r.noise)[:, None]
    miss = depth == 0
    if miss.any():
        dx, dy, dz = (d[miss] for d in dirs)
        mix = np.clip(dz / np.sqrt(dx * dx + dy * dy + dz * dz), 0, 1)[:, None]
        colour[miss] = SKY_HORIZON * (1 - mix) + SKY_TOP * mix
    shape = (height, width)
    return (
        depth.reshape(shape),
        r.labels.take(tri).reshape(shape),
        colour.astype(np.uint8).reshape(*shape, 3),
    )
