"""Smooth handheld camera paths: a slow walk at eye height with a little sway, pitch and roll.

Indoors the walk stays in the middle of the room, clear of the furniture band along the walls
(`scene.BAND`); the camera looks roughly across the room and pans slowly. Poses are cam2world
with OpenCV camera axes (x right, y down, z forward).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.synth.scene import BAND

EYE_HEIGHT = 1.55


def look_pose(position: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """cam2world at `position` heading `yaw` (radians from +x, z-up), then pitched and rolled."""
    forward = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
    right0 = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down0 = np.cross(forward, right0)
    right = np.cos(roll) * right0 + np.sin(roll) * down0
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = position
    return pose


def intrinsics(width: int, height: int, hfov_deg: float = 90.0) -> np.ndarray:
    """Pinhole K with square pixels, principal point at the image centre."""
    f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float32)


def _segment(lo: np.ndarray, hi: np.ndarray, length: float, rng: np.random.Generator):
    """Start and end of a straight walk of about `length` metres inside the box [lo, hi]."""
    start = rng.uniform(lo, hi)
    angles = rng.permutation(np.linspace(0, 2 * np.pi, 24, endpoint=False))
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    # the longest step along each direction that stays in the box, capped at `length`
    with np.errstate(divide="ignore", invalid="ignore"):
        lim = np.where(
            dirs > 0, (hi - start) / dirs, np.where(dirs < 0, (lo - start) / dirs, np.inf)
        )
    reach = np.minimum(lim.min(axis=1), length)
    best = int(np.argmax(reach >= length)) if (reach >= length).any() else int(reach.argmax())
    return start, start + dirs[best] * reach[best]


def walk(scene: dict[str, Any], n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """(n_frames, 4, 4) cam2world poses of a smooth handheld walk through `scene`.

    Walking speed 0.35–0.5 m/s (so a shot of 1 s or more translates at least 0.3 m where the
    room allows), panning at most 0.25 rad/s, with a few centimetres of bob and sway.
    """
    seconds = np.arange(max(n_frames, 1)) / fps
    duration = max(seconds[-1], 1.0 / fps)
    t = seconds / duration
    ease = t * t * (3 - 2 * t)
    length = rng.uniform(0.35, 0.5) * duration
    if scene["indoor"]:
        w, d = scene["size"][0], scene["size"][1]
        margin = BAND + 0.25
        lo = np.array([margin, margin])
        hi = np.maximum(np.array([w, d]) - margin, lo + 0.01)
        z0 = EYE_HEIGHT
    else:
        lo, hi, z0 = np.array([-2.0, -3.0]), np.array([2.0, 0.0]), 1.6
    start, end = _segment(lo, hi, length, rng)
    target = np.array([w / 2, d / 2]) if scene["indoor"] else np.array([start[0], 9.0])
    yaw0 = np.arctan2(*(target - start)[::-1]) + rng.uniform(-1.0, 1.0) * scene["indoor"]
    pan = rng.uniform(-0.25, 0.25) * duration
    phase = rng.uniform(0, 2 * np.pi, 4)
    xy = start + (end - start) * ease[:, None]
    z = z0 + 0.02 * np.sin(2 * np.pi * 1.8 * seconds + phase[0])
    xy = xy + 0.01 * np.sin(2 * np.pi * 0.9 * seconds + phase[1])[:, None]
    yaw = yaw0 + pan * ease
    pitch = -0.12 + 0.03 * np.sin(2 * np.pi * 0.4 * seconds + phase[2])
    roll = 0.02 * np.sin(2 * np.pi * 0.3 * seconds + phase[3])
    return np.stack(
        [
            look_pose(np.array([x, y, h]), a, p, r)
            for (x, y), h, a, p, r in zip(xy, z, yaw, pitch, roll, strict=True)
        ]
    )
