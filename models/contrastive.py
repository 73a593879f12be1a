"""Superpixel–supervoxel contrastive distillation (the paper's pretraining loss), vectorised.

ρ maps each pixel to the voxel its depth back-projects into (``models.geometry``); a voxel takes
the superpixel id most of its pixels carry (majority vote); a superpixel's feature is the mean of
its 2D (DINOv2) pixel features, a supervoxel's the mean of the network's voxel features; matched
pairs are pulled together with InfoNCE at temperature τ. Pooling uses scatter ops, no loops.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.geometry import backproject, flat_index, voxel_indices


def pixel_to_voxel(
    depth: np.ndarray,
    cam_k: np.ndarray,
    cam_pose: np.ndarray,
    voxel_origin: np.ndarray,
    voxel_size: float,
    dims: tuple[int, int, int],
) -> np.ndarray:
    """ρ: flat voxel index of every pixel (H*W,), -1 where no depth or outside the grid."""
    points, pix = backproject(depth, cam_k, cam_pose)
    ijk, inside = voxel_indices(points, voxel_origin, voxel_size, dims)
    rho = np.full(depth.size, -1, np.int64)
    rho[pix[inside]] = flat_index(ijk[inside], dims)
    return rho


def majority_vote(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct key, the most frequent value (ties → the smallest); (keys, winners)."""
    if keys.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs, counts = np.unique(np.stack([keys, values], axis=1), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))  # by key, then count desc, value asc
    pairs = pairs[order]
    first = np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]
    return pairs[first, 0], pairs[first, 1]


def supervoxels(rho: np.ndarray, regions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxels and the superpixel id each wins by majority vote over its pixels (-1 ids ignored)."""
    regions = regions.reshape(-1).astype(np.int64)
    keep = (rho >= 0) & (regions >= 0)
    return majority_vote(rho[keep], regions[keep])


def segment_mean(values: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Mean of rows of `values` (N, D) per segment id in [0, num_segments) (scatter, no loop)."""
    sums = values.new_zeros(num_segments, values.shape[1]).index_add_(0, segment, values)
    counts = torch.bincount(segment, minlength=num_segments).clamp_min(1).to(values.dtype)
    return sums / counts[:, None]


def matched_features(
    pixel_feats: torch.Tensor,
    regions: torch.Tensor,
    voxel_feats: torch.Tensor,
    sv_voxels: torch.Tensor,
    sv_regions: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(superpixel, supervoxel) feature pairs (M, D) each, for regions present in both.

    pixel_feats (D, H, W) and regions (H, W) at one resolution; voxel_feats (D, X*Y*Z);
    sv_voxels / sv_regions: the supervoxel assignment from :func:`supervoxels`.
    """
    if sv_regions.numel() == 0:
        d = pixel_feats.shape[0]
        return pixel_feats.new_zeros(0, d), voxel_feats.new_zeros(0, d)
    # Matched ids, compacted to 0..M-1 so pooling needs no dense table of all region ids.
    matched, sv_compact = torch.unique(sv_regions, return_inverse=True)
    flat_regions = regions.reshape(-1).long()
    pos = torch.searchsorted(matched, flat_regions.clamp_min(0))
    pos_c = pos.clamp_max(matched.numel() - 1)
    in_matched = (flat_regions >= 0) & (matched[pos_c] == flat_regions)
    pix = pixel_feats.reshape(pixel_feats.shape[0], -1).T[in_matched]
    sp = segment_mean(pix, pos_c[in_matched], matched.numel())
    sv = segment_mean(voxel_feats.T[sv_voxels], sv_compact, matched.numel())
    has_pixels = torch.bincount(pos_c[in_matched], minlength=matched.numel()) > 0
    return sp[has_pixels], sv[has_pixels]


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of matched rows of `a` → `b` (M, D): row i's positive is b[i], negatives the rest."""
    if a.shape[0] == 0:
        raise ValueError("InfoNCE needs at least one matched superpixel/supervoxel pair")
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))


@torch.no_grad()
def retrieval_top1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Share (0-d tensor in [0, 1]) of rows of `a` (M, D) whose most cosine-similar row of `b`
    is their match b[i]: the retrieval accuracy InfoNCE trains for (chance level 1/M)."""
    sim = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    return (sim.argmax(dim=1) == torch.arange(a.shape[0], device=a.device)).float().mean()
