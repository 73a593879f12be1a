"""Smooth handheld camera paths: a slow walk at eye height with a little sway, pitch and roll.

Indoors the walk stays in the middle of the room, clear of the furniture band along the walls
(`scene.BAND`), and translates at least 0.3 m; the camera looks roughly across the room and
pans slowly. Poses are cam2world with OpenCV camera axes (x right, y down, z forward).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.synth.scene import BAND

EYE_HEIGHT = 1.55


def look_pose(position: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """cam2world of a camera at `position` heading `yaw` (radians from +x, z-up), pitched, rolled."""
    forward = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
    right0 = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down0 = np.cross(forward, right0)
    right = np.cos(roll) * right0 + np.sin(roll) * down0
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = position
    return pose


def intrinsics(width: int, height: int, hfov_deg: float = 70.0) -> np.ndarray:
    """Pinhole K with square pixels, principal point at the image centre."""
    f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float32)


def walk(scene: dict[str, Any], n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(n_frames, 4, 4) cam2world poses of a smooth handheld walk through `scene`."""
    t = np.linspace(0.0, 1.0, max(n_frames, 1))
    ease = t * t * (3 - 2 * t)
    if scene["indoor"]:
        w, d = scene["size"][0], scene["size"][1]
        margin = BAND + 0.25
        lo = np.array([margin, margin])
        hi = np.array([max(w - margin, margin + 0.01), max(d - margin, margin + 0.01)])
        start, end = rng.uniform(lo, hi), rng.uniform(lo, hi)
        if np.linalg.norm(end - start) < 0.45:  # ensure parallax: walk along the longer side
            start = (
                np.array([lo[0], (lo[1] + hi[1]) / 2])
                if w >= d
                else np.array([(lo[0] + hi[0]) / 2, lo[1]])
            )
            end = np.array([hi[0], start[1]]) if w >= d else np.array([start[0], hi[1]])
        yaw0 = np.arctan2(d / 2 - start[1], w / 2 - start[0]) + rng.uniform(-1.2, 1.2)
        pan = rng.uniform(-0.8, 0.8)
        z0 = EYE_HEIGHT
    else:
        start = np.array([rng.uniform(-1, 1), -2.0])
        end = start + np.array([rng.uniform(-1.5, 1.5), 1.0])
        yaw0, pan, z0 = np.pi / 2 + rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), 1.6
    phase = rng.uniform(0, 2 * np.pi, 4)
    xy = start + (end - start) * ease[:, None]
    sway = 0.02 * np.sin(2 * np.pi * 1.7 * t * 3 + phase[0])
    z = z0 + 0.02 * np.sin(2 * np.pi * 3.0 * t + phase[1]) + sway
    yaw = yaw0 + pan * ease
    pitch = -0.08 + 0.04 * np.sin(2 * np.pi * 1.1 * t + phase[2])
    roll = 0.03 * np.sin(2 * np.pi * 0.9 * t + phase[3])
    return np.stack(
        [
            look_pose(np.array([x, y, h]), a, p, r)
            for (x, y), h, a, p, r in zip(xy, z, yaw, pitch, roll, strict=True)
        ]
    )
