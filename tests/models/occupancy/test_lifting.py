"""Voxel centres project where the camera model says; the frustum mask drops the rest."""

from __future__ import annotations

import torch

from models.occupancy.lifting import project, sample_pyramid, voxel_centres, world_to_camera


def test_voxel_centre_projects_to_its_pixel():
    # camera at the origin looking along world +z; voxel (2, 1, 3) of 1 m voxels from (-2,-1,1)
    origin = torch.tensor([[-2.0, -1.0, 1.0]])
    centres = voxel_centres(origin, 1.0, (4, 3, 5))
    idx = (2 * 3 + 1) * 5 + 3
    assert torch.allclose(centres[0, idx], torch.tensor([0.5, 0.5, 4.5]))
    K = torch.tensor([[[9.0, 0, 4], [0, 9, 3], [0, 0, 1]]])
    cam = world_to_camera(centres, torch.eye(4)[None])
    grid, mask = project(cam, K, (6, 8))
    u, v = 9 * 0.5 / 4.5 + 4, 9 * 0.5 / 4.5 + 3  # (5, 4)
    assert torch.allclose(grid[0, idx], torch.tensor([2 * u / 8 - 1, 2 * v / 6 - 1]))
    assert mask[0, idx]


def test_voxels_behind_or_beside_the_camera_are_masked_out():
    pts = torch.tensor([[[0.0, 0, -1], [100.0, 0, 1], [0.0, 0, 2]]])
    K = torch.tensor([[[10.0, 0, 5], [0, 10, 5], [0, 0, 1]]])
    _, mask = project(pts, K, (10, 10))
    assert mask.tolist() == [[False, False, True]]


def test_sampled_features_are_the_pixel_values_and_zero_outside():
    feat = torch.arange(12.0).reshape(1, 1, 3, 4)
    # the centre of pixel (u=2, v=1) in normalised coords; and one outside the frustum
    grid = torch.tensor([[[2 * 2.5 / 4 - 1, 2 * 1.5 / 3 - 1], [0.0, 0.0]]])
    out = sample_pyramid([feat, feat], grid, torch.tensor([[True, False]]))
    assert torch.allclose(out[0, 0], torch.tensor([2 * 6.0, 0.0]))
