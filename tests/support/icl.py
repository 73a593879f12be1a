"""The vendored ICL-NUIM living-room subset (``tests/data/icl_livingroom1_subset``, SOURCE.txt)
as a cloud: its true depth back-projected into the dataset's world turned z-up, optionally with
the depth noise of multi-view stereo."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from models.geometry import backproject

SUBSET = Path(__file__).resolve().parents[1] / "data" / "icl_livingroom1_subset"
Y_UP_TO_Z_UP = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], np.float64)
"""The dataset's world has +y up; z-up = (x, -z, y) (SOURCE.txt)."""
FLOOR_Z = 0.119
"""The floor's height in that z-up world (SOURCE.txt: floor plane at y ≈ 0.119 m)."""


def icl_cloud(stride: int = 4, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(points (N,3) float64 m, cam2world (F,4,4) OpenCV axes) of the subset's 8 frames, z-up,
    every `stride`-th pixel row and column; `noise` > 0 multiplies each pixel's depth by
    1 + N(0, noise), the per-pixel error of plane-sweep stereo (about 1 % here, README)."""
    intr = json.loads((SUBSET / "intrinsics.json").read_text())
    K = np.array([[intr["fx"], 0, intr["cx"]], [0, intr["fy"], intr["cy"]], [0, 0, 1]])
    rows = np.loadtxt(SUBSET / "poses_gtworld.txt", comments="#")
    rng = np.random.default_rng(seed)
    pts, cams = [], []
    for row in rows:
        pose = Y_UP_TO_Z_UP @ row[1:].reshape(4, 4)
        path = SUBSET / "depth" / f"{int(row[0]):05d}.png"
        depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) / intr["depth_scale"]
        if noise > 0:
            depth = depth * (1 + rng.normal(0, noise, depth.shape))
        mask = np.zeros(depth.shape, bool)
        mask[::stride, ::stride] = True
        pts.append(backproject(depth.astype(np.float32), K, pose, mask)[0])
        cams.append(pose)
    return np.concatenate(pts).astype(np.float64), np.stack(cams)
