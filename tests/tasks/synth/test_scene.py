"""Rooms: right size, every NYU class, furniture inside the room and within the wall band."""

from __future__ import annotations

import numpy as np

from storage.formats import NUM_CLASSES
from tasks.synth.scene import BAND, CEILING, make_outdoor, make_room, scene_mesh


def test_rooms_hold_every_class_inside_their_walls_and_keep_the_middle_free():
    rng = np.random.default_rng(0)
    for i in range(6):
        room = make_room(i, rng)
        w, d, h = room["size"]
        assert 3.5 <= w <= 6 and 3.5 <= d <= 6 and h == CEILING
        lo = np.array([b["min"] for b in room["boxes"]])
        hi = np.array([b["max"] for b in room["boxes"]])
        assert np.all(lo >= -1e-6) and np.all(hi <= np.array([w, d, h]) + 1e-6)
        assert np.all(hi > lo)
        near_wall = (lo[:, 0] <= BAND + 0.3) | (lo[:, 1] <= BAND + 0.3)
        near_wall |= (hi[:, 0] >= w - BAND - 0.3) | (hi[:, 1] >= d - BAND - 0.3)
        assert near_wall.all()
        _, tris, labels, tints = scene_mesh(room)
        assert set(np.unique(labels)) == set(range(1, NUM_CLASSES + 1))
        assert len(tris) == len(labels) == len(tints)


def test_outdoor_scene_has_no_indoor_class():
    scene = make_outdoor(3, np.random.default_rng(1))
    assert not scene["indoor"]
    assert set(np.unique(scene_mesh(scene)[2])) == {0}
