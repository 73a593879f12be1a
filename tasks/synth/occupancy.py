"""The TRUE occupancy grid of a tour frame, computed from the analytic scene, not rendered depth.

Rule (the visible-surface occupancy the voxelize stage aims at), for frame i of the tour:
1. Rays from frame i's camera through a pixel grid ``SUPERSAMPLE`` times finer than the video
   are cast against the frame's scene mesh (rebuilt from ``rooms.json``), in truth-world units.
2. Hit points are mapped to the grid frame with ``world_from_truth`` (a similarity) and binned
   into voxels of ``voxel_size`` from ``voxel_origin``; a voxel holding hits of a NYU class gets
   the class with most hits (ties → smaller id). Hits without a class (outdoor: sky, ground,
   facade) are ignored.
3. Voxels the frame sees through and holding no classed hit are free (0): the centre projects
   into the supersampled frame and its pixel's ray goes at least one voxel further
   (``models.geometry.ray_free_space``). Sky pixels (no hit) free nothing.
4. Every other voxel is 255 (unknown).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.geometry import backproject, majority_grid, ray_free_space
from storage.config import GRID_DIMS, VOXEL_SIZE
from storage.formats import FREE, UNKNOWN
from storage.truth import read_rooms, read_shots, read_truth_frame, truth_folder
from tasks.synth.render import cast, renderable

SUPERSAMPLE = 2


def frame_scene(truth_dir: Path, video_frame: int) -> dict:
    """The scene description of the shot holding `video_frame`."""
    shot = next(
        (s for s in read_shots(truth_dir) if s.start_frame <= video_frame < s.end_frame), None
    )
    if shot is None:
        raise ValueError(f"video frame {video_frame} is in no shot of {truth_dir}")
    return read_rooms(truth_dir)[shot.room]


def grid_camera(world_from_truth: np.ndarray, cam2world: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale s of the similarity and the rigid camera pose in the grid frame (depths scale by s)."""
    T = np.asarray(world_from_truth, np.float64)
    s = float(np.cbrt(np.linalg.det(T[:3, :3])))
    pose = T @ np.asarray(cam2world, np.float64)
    pose[:3, :3] /= s
    return s, pose


def truth_occupancy(
    truth_dir: Path,
    video_frame: int,
    voxel_origin: np.ndarray,
    voxel_size: float = VOXEL_SIZE,
    dims: tuple[int, int, int] = GRID_DIMS,
    world_from_truth: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 grid of `dims`: classes at surfaces seen by the frame, 0 free before them, else 255."""
    folder = truth_folder(Path(truth_dir))
    frame = read_truth_frame(folder, video_frame)
    h, w = frame["depth"].shape
    K = frame["K"].astype(np.float64).copy()
    K[:2] *= SUPERSAMPLE
    hs, ws = h * SUPERSAMPLE, w * SUPERSAMPLE
    depth, labels, _ = cast(
        renderable(frame_scene(folder, video_frame)), K, frame["cam2world"], hs, ws
    )
    T = np.eye(4) if world_from_truth is None else world_from_truth
    s, pose = grid_camera(T, frame["cam2world"])
    depth = depth * s
    points, pix = backproject(depth, K, pose, mask=labels > 0)
    cls, counts = majority_grid(points, labels.reshape(-1)[pix], voxel_origin, voxel_size, dims)
    far = float(depth.max(initial=0.0)) + voxel_size
    free = ray_free_space(depth, K, pose, voxel_origin, voxel_size, dims, max_depth=far)
    grid = np.full(dims, UNKNOWN, np.uint8)
    grid[free] = FREE
    grid[counts > 0] = cls[counts > 0]
    return grid
