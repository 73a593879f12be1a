"""Rendering: depth lands on the labelled surfaces; colours are view-consistent (warp test)."""

from __future__ import annotations

import numpy as np
import open3d as o3d

from models.geometry import backproject, transform_points
from tasks.synth.path import intrinsics, walk
from tasks.synth.render import cast, renderable
from tasks.synth.scene import CEILING, make_room, scene_mesh

H, W = 120, 160


def _room_view(seed: int = 2):
    rng = np.random.default_rng(seed)
    room = make_room(0, rng)
    return room, renderable(room, seed), intrinsics(W, H), walk(room, 12, 12, rng)


def test_backprojected_depth_lands_on_the_surface_of_its_label():
    room, r, K, poses = _room_view()
    points, lab = [], []
    for pose in poses:
        depth, labels, _ = cast(r, K, pose, H, W)
        assert (depth > 0).all()  # a closed room: every ray hits
        p, pix = backproject(depth, K, pose)
        points.append(p)
        lab.append(labels.reshape(-1)[pix])
    points, lab = np.concatenate(points), np.concatenate(lab)
    assert {1, 2, 3} <= set(np.unique(lab))
    assert np.abs(points[lab == 2, 2]).max() < 1e-3  # floor at z = 0
    assert np.abs(points[lab == 1, 2] - CEILING).max() < 1e-3
    # an independent query: the closest triangle to each point carries the pixel's label
    v, t, tri_labels, _ = scene_mesh(room)
    legacy = o3d.t.geometry.RaycastingScene()
    legacy.add_triangles(o3d.core.Tensor(v), o3d.core.Tensor(t.astype(np.uint32)))
    closest = legacy.compute_closest_points(o3d.core.Tensor(points.astype(np.float32)))
    gap = np.linalg.norm(closest["points"].numpy() - points, axis=1)
    # float32 depths of a room a few metres wide are exact to microns: a point 1 mm off its
    # mesh is a wrong ray or intrinsics, far below the 8 cm voxel and far above rounding
    assert np.percentile(gap, 99) < 1e-3
    agree = tri_labels[closest["primitive_ids"].numpy()] == lab
    assert agree.mean() > 0.97  # only pixels on box edges may pick the neighbouring face


def test_second_cast_is_identical():
    _, r, K, poses = _room_view()
    a = cast(r, K, poses[3], H, W)
    b = cast(renderable(_room_view()[0], 2), K, poses[3], H, W)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def warp_error(frame_a, frame_b, K) -> tuple[float, float]:
    """Median colour error of frame b predicted from frame a by depth and poses, and unwarped."""
    (depth_b, pose_b, colour_b), (depth_a, pose_a, colour_a) = frame_b, frame_a
    points, pix = backproject(depth_b, K, pose_b)
    cam = transform_points(np.linalg.inv(pose_a), points)
    uv = cam[:, :2] / cam[:, 2:] @ K[:2, :2].T + K[:2, 2]
    u, v = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    h, w = depth_a.shape
    ok = (cam[:, 2] > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    ok[ok] &= np.abs(depth_a[v[ok], u[ok]] - cam[ok, 2]) < 0.02 * cam[ok, 2]  # not occluded
    assert ok.mean() > 0.5
    pred = colour_a[v[ok], u[ok]].astype(int)
    seen = colour_b.reshape(-1, 3)[pix[ok]].astype(int)
    same_pixel = colour_a.reshape(-1, 3)[pix[ok]].astype(int)
    return float(np.median(np.abs(pred - seen))), float(np.median(np.abs(same_pixel - seen)))


def test_warping_a_frame_by_the_truth_reproduces_the_next_frame():
    room, r, K, poses = _room_view()
    frames = [(d, p, c) for p in (poses[0], poses[6]) for d, _, c in [cast(r, K, p, H, W)]]
    warped, unwarped = warp_error(frames[0], frames[1], K)
    assert warped <= 3
    assert unwarped > 3 * max(warped, 1)
