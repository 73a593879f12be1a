"""Backbones by name: five taps at strides 2–32 for each family, MonoScene's B7 taps, pretrained
weights read from a local file or the Hub cache, and a missing file named with its fetch line."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from models.backbones.multiscale import STRIDES, MultiScaleEncoder
from models.backbones.registry import BACKBONES, create_backbone, spec_of, weights_id
from models.weights import WeightsNotFound


@pytest.mark.parametrize("name", ["test_efficientnet", "test_resnet", "test_vit"])
def test_every_family_gives_one_map_per_stride(name):
    torch.manual_seed(0)
    enc = MultiScaleEncoder(name, weights=None).eval()
    maps = enc(torch.rand(1, 3, 48, 64))
    assert [tuple(m.shape[2:]) for m in maps] == [(-(-48 // s), 64 // s) for s in STRIDES]
    assert [m.shape[1] for m in maps] == enc.channels


def test_efficientnet_b7_taps_are_monoscenes():
    """MonoScene's decoder reads blocks 0, 1, 2, 4 and conv_head (32, 48, 80, 224, 2560 wide)."""
    with torch.device("meta"):
        enc = MultiScaleEncoder("efficientnet-b7", weights=None)
    assert enc.taps == ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "conv_head"]
    assert enc.channels == [32, 48, 80, 224, 2560]


def test_named_backbones_have_hub_weights_and_timm_architectures():
    for name, spec in BACKBONES.items():
        assert timm.is_model(spec.timm_name), name
        assert weights_id(name) == spec.weights and spec.weights.count("/") == 1
    assert weights_id("resnet50", None) is None
    assert spec_of("test_resnet").weights is None
    with pytest.raises(ValueError, match="unknown backbone 'resnet-9000'"):
        spec_of("resnet-9000")


def test_pretrained_weights_load_from_a_local_file(tmp_path):
    torch.manual_seed(1)
    src = timm.create_model("test_resnet", num_classes=0, global_pool="")
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, tmp_path / "w.safetensors")
    torch.manual_seed(2)
    got = create_backbone("test_resnet", weights=str(tmp_path / "w.safetensors"))
    for k, v in src.state_dict().items():
        assert torch.equal(v, got.state_dict()[k]), k


def test_missing_hub_weights_name_the_id_and_the_fetch_command(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(WeightsNotFound) as e:
        create_backbone("resnet50")
    msg = str(e.value)
    assert " download timm/resnet50.a1_in1k model.safetensors" in msg  # the fetch command
