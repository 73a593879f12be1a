"""Camera walks: rotations, parallax, smoothness, and never inside furniture."""

from __future__ import annotations

import numpy as np

from tasks.synth.path import walk
from tasks.synth.scene import inside_boxes, make_room


def test_walks_are_smooth_translate_enough_and_avoid_furniture():
    rng = np.random.default_rng(5)
    for i in range(8):
        room = make_room(i, rng)
        poses = walk(room, 48, 24, rng)
        R, t = poses[:, :3, :3], poses[:, :3, 3]
        assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-6)
        assert np.allclose(np.linalg.det(R), 1.0)
        # the camera travels (≥ 30 cm, a baseline a reconstruction can use) and smoothly (under
        # 10 cm per frame, so consecutive frames overlap): the walk's own design limits
        assert np.linalg.norm(t[-1] - t[0]) >= 0.3
        assert np.linalg.norm(np.diff(t, axis=0), axis=1).max() < 0.1
        assert not inside_boxes(room, t, margin=0.2).any()
        w, d, _ = room["size"]
        assert np.all((t[:, 0] > 0.5) & (t[:, 0] < w - 0.5) & (t[:, 1] > 0.5) & (t[:, 1] < d - 0.5))
        # camera down axis (y) points mostly down the world z: upright, small roll and pitch
        assert np.all(R[:, 2, 1] < -0.95)
