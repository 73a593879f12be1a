"""Make ``cloud.npz`` (a vendored subset of the ICL-NUIM living room, see SOURCE.txt) from the
full fixture: every 10th frame's depth back-projected on every 8th pixel row and column.

    python tests/data/icl_livingroom1/make_cloud.py /path/to/icl_livingroom1

Keys: ``points`` float32 (N,3) and ``cam2world`` float32 (F,4,4) in the sequence's frame
(world = camera 0, metres), ``up`` float64 (3,) the true up direction in that frame (from
``poses_gtworld.txt``, whose world has +y up), ``floor_height`` the floor's height along it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from models.geometry import backproject

FRAMES = range(0, 121, 10)
STRIDE = 8


def poses(path: Path) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines() if not line.startswith("#")]
    return np.array([[float(x) for x in r[1:]] for r in rows if r]).reshape(-1, 4, 4)


def main(src: Path) -> None:
    intr = json.loads((src / "intrinsics.json").read_text())
    K = np.array([[intr["fx"], 0, intr["cx"]], [0, intr["fy"], intr["cy"]], [0, 0, 1]])
    cam2world, gt = poses(src / "poses.txt"), poses(src / "poses_gtworld.txt")
    pts = []
    for f in FRAMES:
        depth = cv2.imread(str(src / "depth" / f"{f:05d}.png"), cv2.IMREAD_UNCHANGED) / 1000.0
        mask = np.zeros(depth.shape, bool)
        mask[::STRIDE, ::STRIDE] = True
        pts.append(backproject(depth.astype(np.float32), K, cam2world[f], mask)[0])
    to_gt = gt[0] @ np.linalg.inv(cam2world[0])  # sequence frame → ground-truth frame (+y up)
    up = np.linalg.inv(to_gt[:3, :3]) @ np.array([0.0, 1.0, 0.0])
    floor = 0.119 - to_gt[1, 3]  # SOURCE.txt: floor at y ≈ 0.119 m in the ground-truth frame
    np.savez_compressed(
        Path(__file__).with_name("cloud.npz"),
        points=np.concatenate(pts).astype(np.float32),
        cam2world=cam2world[list(FRAMES)].astype(np.float32),
        up=up / np.linalg.norm(up),
        floor_height=np.float64(floor),
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
