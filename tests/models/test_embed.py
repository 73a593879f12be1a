"""DINOv2 pixel features from a tiny randomly initialised model saved in the official format."""

from __future__ import annotations

import pytest
import torch

from models.embed import embed_dim, load_embedder, pixel_features, save_random_dinov2
from models.weights import WeightsNotFound


@pytest.fixture(scope="module")
def tiny_dinov2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dinov2")
    save_random_dinov2(folder)
    return folder


def test_pixel_features_are_patch_tokens_upsampled(tiny_dinov2):
    model = load_embedder(str(tiny_dinov2))
    assert embed_dim(model) == 16
    image = torch.rand(2, 3, 48, 64)
    feats = pixel_features(model, image, (48, 64), input_short_side=28)
    assert feats.shape == (2, 16, 48, 64)
    # at the patch-grid size (28 px short side → 2×3 patches) the features are the tokens
    grid = pixel_features(model, image, (2, 3), input_short_side=28)
    x = torch.nn.functional.interpolate(image, size=(28, 42), mode="bilinear", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        tokens = model(pixel_values=(x - mean) / std).last_hidden_state[:, 1:]
    assert torch.allclose(grid.flatten(2).transpose(1, 2), tokens, atol=1e-5)


def test_embedder_is_loaded_once_and_frozen(tiny_dinov2):
    a = load_embedder(str(tiny_dinov2))
    assert a is load_embedder(str(tiny_dinov2))
    assert not any(p.requires_grad for p in a.parameters())


def test_missing_weights_name_the_path(tmp_path):
    with pytest.raises(WeightsNotFound, match="does not exist"):
        load_embedder(str(tmp_path / "nope.d" / "x.bin"))
