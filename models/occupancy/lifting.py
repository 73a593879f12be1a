"""Lifting 2D features to the voxel grid by projecting voxel centres (MonoScene's FLoSP idea).

Every voxel centre is projected into the image with ``cam_k`` and the inverse of ``cam_pose``;
features are bilinearly sampled at that point on each scale of the 2D pyramid. Voxels behind
the camera or outside the image (the frustum mask) get zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def voxel_centres(
    voxel_origin: torch.Tensor, voxel_size: float, dims: tuple[int, int, int]
) -> torch.Tensor:
    """World coordinates of every voxel centre, (B, X*Y*Z, 3), flattened [x, y, z] row-major."""
    axes = [torch.arange(n, device=voxel_origin.device, dtype=voxel_origin.dtype) for n in dims]
    ijk = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
    return voxel_origin[:, None, :] + (ijk[None] + 0.5) * voxel_size


def world_to_camera(points: torch.Tensor, cam_pose: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) world points into the camera frame of camera-to-world poses (B, 4, 4)."""
    w2c = torch.linalg.inv(cam_pose)
    return points @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]


def project(
    cam_points: torch.Tensor, cam_k: torch.Tensor, image_hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised sampling coordinates in [-1, 1] (B, N, 2) and the frustum mask (B, N).

    Pixel ``i`` spans [i, i+1) (centres at i + 0.5, as in ``models.geometry.pixel_rays``), which
    is ``grid_sample``'s ``align_corners=False`` convention, so one grid serves every scale.
    """
    h, w = image_hw
    z = cam_points[..., 2]
    safe_z = torch.where(z > 1e-6, z, torch.ones_like(z))
    uvw = cam_points @ cam_k.transpose(1, 2)
    u = uvw[..., 0] / safe_z
    v = uvw[..., 1] / safe_z
    mask = (z > 1e-6) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    grid = torch.stack([2.0 * u / w - 1.0, 2.0 * v / h - 1.0], dim=-1)
    return grid, mask


def sample_pyramid(
    pyramid: list[torch.Tensor], grid: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Sum of the features of every pyramid level at `grid`, zero outside the frustum (B, C, N)."""
    g = grid[:, None]  # (B, 1, N, 2)
    total = sum(
        F.grid_sample(f, g, mode="bilinear", padding_mode="zeros", align_corners=False)[:, :, 0]
        for f in pyramid
    )
    return total * mask[:, None].to(total.dtype)
