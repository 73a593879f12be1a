"""Tiny ray-cast box rooms as training samples, in memory or written in the public formats.

A camera inside a 4.8 × 4.8 × 2.8 m room (the grid's extent) looks at a bed and a chair whose
places change with the seed. Depth, colours, regions (one per surface) and the (60,60,36)
target all come from the same geometry, so ρ and supervoxels are exact and the image really
shows what the target holds. ``write_occscannet`` / ``write_nyu`` store samples as ISO's and
MonoScene's files, so loaders and commands are tested on those formats.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from models.geometry import pixel_rays
from storage.config import GRID_DIMS, VOXEL_SIZE

H, W = 48, 64
K = np.array([[40.0, 0, W / 2], [0, 40.0, H / 2], [0, 0, 1]], np.float32)
ROOM = np.array([4.8, 4.8, 2.8])
# surface label (NYU-11) and colour; surfaces 0..5 are the room, 6 the bed, 7 the chair
LABELS = np.array([2, 1, 3, 3, 3, 3, 6, 5], np.uint8)
COLOURS = np.array(
    [
        [120, 90, 60],
        [230, 230, 230],
        [200, 180, 150],
        [180, 200, 150],
        [150, 180, 200],
        [200, 150, 180],
        [40, 40, 160],
        [160, 40, 40],
    ],
    np.float32,
)


def objects(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(min, max) corners of the bed and the chair, placed by `seed`."""
    rng = np.random.default_rng(seed)
    bx, by = rng.uniform(0.4, 2.6), rng.uniform(2.4, 3.2)
    cx, cy = rng.uniform(1.4, 3.0), rng.uniform(1.4, 1.8)
    return [
        (np.array([bx, by, 0.0]), np.array([bx + 1.6, by + 1.2, 0.56])),
        (np.array([cx, cy, 0.0]), np.array([cx + 0.48, cy + 0.48, 0.96])),
    ]


def camera(seed: int) -> np.ndarray:
    """Camera-to-world pose: at 1.4 m looking along +y with a small seeded yaw (OpenCV axes)."""
    yaw = np.random.default_rng(seed + 1).uniform(-0.2, 0.2)
    c, s = np.cos(yaw), np.sin(yaw)
    right, forward, down = np.array([c, -s, 0]), np.array([s, c, 0]), np.array([0, 0, -1.0])
    pose = np.eye(4, dtype=np.float32)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = [2.4, 0.3, 1.4]
    return pose


def ray_cast(
    pose: np.ndarray, boxes: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """z-depth (H,W) and surface id (H,W) of every pixel (slab tests, vectorised)."""
    d = pixel_rays(K, H, W).reshape(-1, 3) @ pose[:3, :3].T.astype(np.float64)  # t = z-depth
    o = pose[:3, 3].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lo, t_hi = (0.0 - o) / d, (ROOM - o) / d
        exit_t = np.where(d > 0, t_hi, np.where(d < 0, t_lo, np.inf))  # (N,3)
    axis = exit_t.argmin(1)
    depth = exit_t.min(1)
    positive = d[np.arange(len(d)), axis] > 0
    surface = np.select(
        [axis == 2, axis == 0, axis == 1],
        [np.where(positive, 1, 0), np.where(positive, 3, 2), np.where(positive, 5, 4)],
    )
    for sid, (lo, hi) in enumerate(boxes, start=6):
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = (lo - o) / d, (hi - o) / d
        near = np.nanmax(np.minimum(a, b), axis=1)
        far = np.nanmin(np.maximum(a, b), axis=1)
        hit = (near <= far) & (near > 0) & (near < depth)
        depth = np.where(hit, near, depth)
        surface = np.where(hit, sid, surface)
    return depth.reshape(H, W).astype(np.float32), surface.reshape(H, W).astype(np.int32)


def target_grid(boxes: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(60,60,36) labels: floor, ceiling and walls on the grid's border, the objects inside."""
    t = np.zeros(GRID_DIMS, np.uint8)
    t[0, :, :] = t[-1, :, :] = t[:, 0, :] = t[:, -1, :] = 3
    t[:, :, 0] = 2
    t[:, :, 34:] = 1
    for sid, (lo, hi) in enumerate(boxes, start=6):
        i0, i1 = np.floor(lo / VOXEL_SIZE).astype(int), np.ceil(hi / VOXEL_SIZE).astype(int)
        t[i0[0] : i1[0], i0[1] : i1[1], max(i0[2], 1) : i1[2]] = LABELS[sid]
    return t


def unseen(pose: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(60,60,36) mask of voxels outside the view or more than a voxel behind the first hit."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in GRID_DIMS], indexing="ij"), -1).reshape(
        -1, 3
    )
    w2c = np.linalg.inv(pose.astype(np.float64))
    cam = ((ijk + 0.5) * VOXEL_SIZE) @ w2c[:3, :3].T + w2c[:3, 3]
    z = np.where(cam[:, 2] > 1e-6, cam[:, 2], np.nan)
    with np.errstate(invalid="ignore"):
        u = np.floor(K[0, 0] * cam[:, 0] / z + K[0, 2])
        v = np.floor(K[1, 1] * cam[:, 1] / z + K[1, 2])
        inside = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    hit = np.full(len(ijk), -np.inf)
    hit[inside] = depth[v[inside].astype(int), u[inside].astype(int)]
    with np.errstate(invalid="ignore"):
        seen = inside & (z <= hit + 1.5 * VOXEL_SIZE)
    return ~seen.reshape(GRID_DIMS)


def make_sample(seed: int) -> dict[str, Any]:
    """One sample dict with the loaders' keys (numpy RGB in 'rgb' too, for writers).

    Voxels the camera cannot see (outside the view, behind surfaces) are unknown (255).
    """
    boxes = objects(seed)
    pose = camera(seed)
    depth, surface = ray_cast(pose, boxes)
    target = target_grid(boxes)
    target[unseen(pose, depth)] = 255
    noise = np.random.default_rng(seed + 2).normal(0, 2, (H, W, 3))
    light = np.clip(1.6 - 0.3 * depth, 0.2, 1.2)[..., None]  # a lamp at the camera: far is dark
    rgb = np.clip(COLOURS[surface] * light + noise, 0, 255).astype(np.uint8)
    return {
        "image": torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0,
        "cam_k": torch.from_numpy(K.copy()),
        "cam_pose": torch.from_numpy(pose),
        "voxel_origin": torch.zeros(3),
        "target": torch.from_numpy(target),
        "depth": torch.from_numpy(depth),
        "regions": torch.from_numpy(surface),
        "name": f"room-{seed}",
        "rgb": rgb,
    }


class RoomDataset(torch.utils.data.Dataset):
    """`n` ray-cast room samples (seeds 0..n-1) with exactly the loaders' keys."""

    def __init__(self, n: int) -> None:
        self.samples = [{k: v for k, v in make_sample(i).items() if k != "rgb"} for i in range(n)]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.samples[i]


def write_occscannet(root: Path, n: int, split: str = "train", first: int = 0) -> list[Path]:
    """Samples first..first+n-1 as ISO pickles (+ JPEG, mm depth PNG, split list)."""
    files = []
    for i in range(first, first + n):
        s = make_sample(i)
        scene = root / "gathered_data" / f"scene{i // 2:04d}_00"
        scene.mkdir(parents=True, exist_ok=True)
        Image.fromarray(s["rgb"]).save(scene / f"{i:05d}.jpg", quality=95)
        depth_mm = np.round(s["depth"].numpy() * 1000).astype(np.uint16)
        Image.fromarray(depth_mm).save(scene / f"{i:05d}.png")
        target = s["target"].numpy()  # its unknown (255) voxels: ISO's loader reads them as free
        k4 = np.eye(4, dtype=np.float32)
        k4[:3, :3] = K
        data = {
            "cam_pose": s["cam_pose"].numpy(),
            "intrinsic": k4,
            "voxel_origin": np.zeros(3),
            "img": str(scene.relative_to(root) / f"{i:05d}.jpg"),
            "depth_gt": str(scene.relative_to(root) / f"{i:05d}.png"),
            "target_1_4": target,
            "target_1_16": target[::4, ::4, ::4],
        }
        path = scene / f"{i:05d}.pkl"
        path.write_bytes(pickle.dumps(data))
        files.append(path)
    (root / f"{split}_subscenes.txt").write_text(
        "".join(f"{p.relative_to(root).as_posix()}\n" for p in files)
    )
    return files


def write_nyu(root: Path, n: int, split: str = "train") -> list[Path]:
    """`n` samples as MonoScene's NYU pickles (target (x, z, y)) + ``<name>_color.jpg``."""
    pkl_dir, rgb_dir = root / "base" / f"NYU{split}", root / f"NYU{split}"
    pkl_dir.mkdir(parents=True, exist_ok=True)
    rgb_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        s = make_sample(i)
        name = f"NYU{i:04d}_0000"
        Image.fromarray(s["rgb"]).save(rgb_dir / f"{name}_color.jpg", quality=95)
        data = {
            "cam_pose": s["cam_pose"].numpy(),
            "voxel_origin": np.zeros(3, np.float32),
            "name": name,
            "target_1_4": s["target"].numpy().transpose(0, 2, 1).copy(),
            "target_1_16": np.zeros((15, 9, 15), np.uint8),
        }
        path = pkl_dir / f"{name}.pkl"
        path.write_bytes(pickle.dumps(data))
        files.append(path)
    return files
