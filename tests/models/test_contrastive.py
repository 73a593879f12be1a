"""ρ, majority-vote supervoxels, masked pooling and InfoNCE against hand-computed cases."""

from __future__ import annotations

import numpy as np
import torch

from models.contrastive import (
    info_nce,
    majority_vote,
    matched_features,
    pixel_to_voxel,
    retrieval_top1,
    segment_mean,
    supervoxels,
)
from tests.support.tiny_training import make_sample


def test_rho_maps_a_known_pixel_to_the_known_voxel():
    # 2×2 image, f = 1, c = (1, 1): pixel (u=0, v=0) has ray (-0.5, -0.5, 1); depth 2 → (-1,-1,2)
    K = np.array([[1.0, 0, 1], [0, 1, 1], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, 3] = [1.0, 1.0, 0.0]  # → world (0, 0, 2): voxel (0, 0, 4) of 0.5 m voxels
    depth = np.array([[2.0, 0.0], [2.0, 9.0]], np.float32)
    rho = pixel_to_voxel(depth, K, pose, np.zeros(3), 0.5, (4, 4, 8))
    assert rho[0] == np.ravel_multi_index((0, 0, 4), (4, 4, 8))
    assert rho[1] == -1  # no depth
    # pixel (u=0, v=1): ray (-0.5, 0.5, 1) × 2 → world (0, 2, 2) → voxel (0, 4, 4): outside y<4
    assert rho[2] == -1
    assert rho[3] == -1  # depth 9 → z = 9 m, beyond the 4 m grid


def test_rho_agrees_with_the_ray_cast_room_labels():
    s = make_sample(3)
    rho = pixel_to_voxel(
        s["depth"].numpy(),
        s["cam_k"].numpy(),
        s["cam_pose"].numpy(),
        np.zeros(3),
        0.08,
        (60, 60, 36),
    )
    labels = np.array([2, 1, 3, 3, 3, 3, 6, 5])[s["regions"].numpy().reshape(-1)]
    hit = rho >= 0
    assert hit.mean() > 0.4  # the room fills the view; only far wall pixels leave the 4.8 m grid
    target = s["target"].numpy()
    # Quantisation can move a surface point across at most one voxel face, so ρ must land every
    # seen pixel within one voxel of its class; and where the voxel is classed and its 3×3×3
    # neighbourhood holds no other class (not at an edge or corner), on exactly its class.
    padded = np.pad(target, 1, constant_values=0)
    stack = np.stack([padded[1 + dx : 61 + dx, 1 + dy : 61 + dy, 1 + dz : 37 + dz].reshape(-1)
                      for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)])  # fmt: skip
    is_class = (stack > 0) & (stack < 255)
    uniform = np.where(is_class, stack, 0).max(0) == np.where(is_class, stack, 255).min(0)
    vox, want = rho[hit], labels[hit]
    own = target.reshape(-1)[vox]
    seen = own < 255  # voxels the unseen test marks unknown make no claim
    assert seen.mean() > 0.95  # unknown only where a grazing ray's voxel lies behind the hit
    assert (stack[:, vox[seen]] == want[seen]).any(0).all()
    inner = seen & (own > 0) & uniform[vox]
    assert inner.mean() > 0.5  # most of the room's seen surface is away from edges and corners
    assert np.array_equal(own[inner], want[inner])


def test_supervoxel_takes_the_majority_superpixel_and_the_smallest_on_ties():
    rho = np.array([5, 5, 5, 7, 7, -1, 9, 9, 11])
    regions = np.array([1, 2, 1, 3, 3, 0, 4, 2, -1])
    vox, reg = supervoxels(rho, regions)
    assert dict(zip(vox.tolist(), reg.tolist(), strict=True)) == {5: 1, 7: 3, 9: 2}


def test_majority_vote_of_nothing_is_empty():
    keys, winners = majority_vote(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert keys.size == 0 and winners.size == 0


def test_segment_mean_averages_rows_per_segment():
    values = torch.tensor([[1.0, 0], [3, 2], [10, 10], [5, 4]])
    out = segment_mean(values, torch.tensor([0, 0, 2, 0]), 3)
    assert torch.allclose(out, torch.tensor([[3.0, 2], [0, 0], [10, 10]]))


def test_matched_features_pool_pixels_and_voxels_of_each_region():
    pix = torch.tensor([[[1.0, 3, 5, 7]], [[0.0, 0, 2, 2]]])  # (D=2, H=1, W=4)
    regions = torch.tensor([[0, 0, 8, -1]])
    vox = torch.tensor([[1.0, 3, 10, 4], [1, 3, 0, 4]])  # (D=2, N=4)
    sv_vox, sv_reg = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 8, 6])  # 6 has no pixels
    sp, sv = matched_features(pix, regions, vox, sv_vox, sv_reg)
    assert torch.allclose(sp, torch.tensor([[2.0, 0], [5, 2]]))
    assert torch.allclose(sv, torch.tensor([[2.0, 2], [10, 0]]))


def test_info_nce_is_minimal_for_matched_pairs():
    torch.manual_seed(0)
    a = torch.randn(6, 8)
    matched = info_nce(a, a, 0.07)
    shuffled = info_nce(a, a[torch.tensor([1, 2, 3, 4, 5, 0])], 0.07)
    assert matched < 0.05 < shuffled
    assert info_nce(a, a, 0.07) < info_nce(a, a, 1.0)  # a lower τ sharpens the match


def test_retrieval_top1_counts_rows_whose_nearest_is_their_match():
    a = torch.eye(4) * 3.0 + 0.1
    assert float(retrieval_top1(a, a * 2)) == 1.0  # cosine: scale does not matter
    swapped = a[[1, 0, 2, 3]]  # rows 0 and 1 now find each other's match
    assert float(retrieval_top1(a, swapped)) == 0.5
