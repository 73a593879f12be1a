"""DINOv2 pixel features from a tiny randomly initialised model saved in the official format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.embed import (
    embed_dim,
    load_embedder,
    pixel_features,
    required_weights,
    save_random_dinov2,
)
from models.weights import WeightsNotFound


@pytest.fixture(scope="module")
def tiny_dinov2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dinov2")
    save_random_dinov2(folder)
    return folder


def _tokens(model, image, grid_hw, skip):
    """The model's patch tokens of `image` resized to `grid_hw` patches, as (B, N, D)."""
    size = (grid_hw[0] * 14, grid_hw[1] * 14)
    x = torch.nn.functional.interpolate(image, size=size, mode="bilinear", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        return model(pixel_values=(x - mean) / std).last_hidden_state[:, skip:]


def test_pixel_features_are_patch_tokens_upsampled(tiny_dinov2):
    model = load_embedder(str(tiny_dinov2))
    assert embed_dim(model) == 16
    image = torch.rand(2, 3, 48, 64)
    feats = pixel_features(model, image, (48, 64), input_short_side=28)
    assert feats.shape == (2, 16, 48, 64)
    # at the patch-grid size (28 px short side → 2×3 patches) the features are the tokens
    grid = pixel_features(model, image, (2, 3), input_short_side=28)
    tokens = _tokens(model, image, (2, 3), skip=1)
    assert torch.allclose(grid.flatten(2).transpose(1, 2), tokens, atol=1e-5)


def test_embedder_is_loaded_once_and_frozen(tiny_dinov2):
    a = load_embedder(str(tiny_dinov2))
    assert a is load_embedder(str(tiny_dinov2))
    assert not any(p.requires_grad for p in a.parameters())


def test_missing_or_unloadable_weights_name_the_path(tmp_path):
    with pytest.raises(WeightsNotFound) as info:
        load_embedder(str(tmp_path / "nope.d" / "x.bin"))
    assert (
        str(info.value)
        == f"DINOv2 embedder: local path {tmp_path / 'nope.d' / 'x.bin'} does not exist"
    )
    folder = tmp_path / "no-weights"
    save_random_dinov2(folder)
    (folder / "model.safetensors").unlink()  # config.json alone
    with pytest.raises(
        WeightsNotFound, match=rf"^DINOv2 embedder: {folder} holds no loadable model \("
    ):
        load_embedder(str(folder))


def test_the_embedder_is_put_on_the_device_asked_for(tiny_dinov2):
    model = load_embedder(str(tiny_dinov2), "meta")  # a device without memory
    assert {p.device.type for p in model.parameters()} == {"meta"}


def test_the_random_dinov2_is_tiny_seeded_and_in_the_official_format(tmp_path):
    """What tests and the offline demo load: one 16-wide layer of two heads, 56 px position
    table, 14 px patches, read back by transformers; the same seed gives the same weights."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    folder = save_random_dinov2(tmp_path / "a")
    assert folder == str(tmp_path / "a")
    cfg = AutoConfig.from_pretrained(folder)
    assert cfg.model_type == "dinov2"
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (16, 1, 2)
    assert (cfg.intermediate_size, cfg.patch_size, cfg.image_size) == (32, 14, 56)
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(Path(save_random_dinov2(tmp_path / "b", seed=0)) / "model.safetensors")
    c = load_file(Path(save_random_dinov2(tmp_path / "c", seed=1)) / "model.safetensors")
    assert all(torch.equal(v, b[k]) for k, v in a.items())
    assert not all(torch.equal(v, c[k]) for k, v in a.items())


@pytest.mark.parametrize("hw", [(48, 64), (64, 48)], ids=["landscape", "portrait"])
def test_a_short_side_of_one_patch_keeps_one_patch_row_or_column(tiny_dinov2, hw):
    """A 14 px short side is one patch across it (the long side rounds up to 2): the features
    at that grid are the model's tokens of the image resized to 14 × 28 (or 28 × 14)."""
    model = load_embedder(str(tiny_dinov2))
    image = torch.rand(1, 3, *hw)
    grid_hw = (1, 2) if hw[0] < hw[1] else (2, 1)
    feats = pixel_features(model, image, grid_hw, input_short_side=14)
    tokens = _tokens(model, image, grid_hw, skip=1)
    assert torch.allclose(feats.flatten(2).transpose(1, 2), tokens, atol=1e-5)


def test_required_weights_locate_the_model_folder_without_loading_it(tiny_dinov2, tmp_path):
    """The preflight's line for pretraining's teacher: found when its folder holds
    config.json; otherwise the miss names the folder, the path or the Hub repo."""
    (spec,) = required_weights(str(tiny_dinov2))
    assert (spec.stage, spec.backend, spec.spec, spec.what) == (
        "train",
        "dinov2",
        str(tiny_dinov2),
        "DINOv2 embedder",
    )
    assert spec.locate() == tiny_dinov2
    (tmp_path / "empty").mkdir()
    misses = {
        str(tmp_path / "empty"): f"DINOv2 embedder: {tmp_path / 'empty'} holds no config.json",
        str(
            tmp_path / "absent"
        ): f"DINOv2 embedder: local path {tmp_path / 'absent'} does not exist",
        "owner/not-cached": "DINOv2 embedder: Hub repo 'owner/not-cached' is not in the local cache",
    }
    for source, message in misses.items():
        (spec,) = required_weights(source)
        with pytest.raises(WeightsNotFound) as info:
            spec.locate()
        assert str(info.value).startswith(message)


def test_each_patch_centre_pixel_gets_its_own_token(tiny_dinov2):
    """Tokens sit at their patches' centres: upsampled 3×, the middle pixel of every 3 × 3
    block is exactly its patch's token (a corner-aligned upsampling would shift them)."""
    model = load_embedder(str(tiny_dinov2))
    image = torch.rand(1, 3, 48, 64)
    feats = pixel_features(model, image, (6, 9), input_short_side=28)  # 2 × 3 patches
    centres = feats[:, :, 1::3, 1::3].flatten(2).transpose(1, 2)
    assert torch.allclose(centres, _tokens(model, image, (2, 3), skip=1), atol=1e-5)


def test_register_tokens_are_skipped_with_the_cls_token(tmp_path):
    """DINOv2 with registers (facebook/dinov2-with-registers-*) puts 4 register tokens after
    CLS: the pixel features are the patch tokens after all five."""
    from transformers import Dinov2WithRegistersConfig, Dinov2WithRegistersModel

    torch.manual_seed(0)
    cfg = Dinov2WithRegistersConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=32, patch_size=14, image_size=56,
                                    num_register_tokens=4)  # fmt: skip
    Dinov2WithRegistersModel(cfg).save_pretrained(tmp_path / "reg")
    model = load_embedder(str(tmp_path / "reg"))
    image = torch.rand(1, 3, 48, 64)
    grid = pixel_features(model, image, (2, 3), input_short_side=28).flatten(2).transpose(1, 2)
    assert torch.allclose(grid, _tokens(model, image, (2, 3), skip=5), atol=1e-5)
