"""The default network: shapes of features and logits, and features depend on the image."""

from __future__ import annotations

import pytest
import torch

from models.occupancy.registry import build_network
from tests.models.occupancy.tiny import TINY_NET
from tests.support.tiny_training import RoomDataset


@pytest.fixture(scope="module")
def batch():
    ds = RoomDataset(2)
    return {
        k: torch.stack([ds[i][k] for i in range(2)])
        for k in ("image", "cam_k", "cam_pose", "voxel_origin")
    }


def test_features_and_logits_have_the_grid_shape(batch):
    torch.manual_seed(0)
    net = build_network("monoscene-lite", feature_dim=24, **TINY_NET)
    args = (batch["image"], batch["cam_k"], batch["cam_pose"], batch["voxel_origin"])
    assert net.features(*args).shape == (2, 24, 60, 60, 36)
    assert net(*args).shape == (2, 12, 60, 60, 36)


def test_voxel_features_follow_the_image_inside_the_frustum(batch):
    torch.manual_seed(0)
    net = build_network("monoscene-lite", feature_dim=8, **TINY_NET).eval()
    args = [batch["cam_k"][:1], batch["cam_pose"][:1], batch["voxel_origin"][:1]]
    with torch.no_grad():
        a = net.features(batch["image"][:1], *args)
        b = net.features(1 - batch["image"][:1], *args)
    assert (a - b).abs().max() > 1e-3


def test_unknown_network_names_the_known_ones():
    with pytest.raises(ValueError, match="monoscene-lite"):
        build_network("monoscene-heavy")
