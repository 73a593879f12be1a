"""Contrastive pretraining: the loss falls; superpixels fall back to SLIC; bad input is named."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.embed import load_embedder, save_random_dinov2
from storage.config import TrainConfig
from storage.formats import FormatError
from tasks.training.pretrain import contrastive_step, pretrain, superpixels
from tasks.training.trainer import fit, new_network
from tests.models.occupancy.tiny import TINY_NET
from tests.support.tiny_training import RoomDataset, make_sample, write_occscannet

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def dinov2(tmp_path_factory) -> str:
    """A tiny random DINOv2 saved in the official transformers format (width 16)."""
    return save_random_dinov2(tmp_path_factory.mktemp("dinov2"))


def _cfg(dinov2: str, **kw) -> TrainConfig:
    base = {
        "device": "cpu",
        "embed_weights": dinov2,
        "net_args": TINY_NET,
        "batch_size": 2,
        "pixel_stride": 2,
        "embed_input_size": 28,
        "epochs": 2,
        "milestones": [100],
    }
    return TrainConfig(**(base | kw))


@pytest.mark.slow  # 12 epochs of DINOv2 + network on CPU: minutes on 2 shared cores
def test_pretraining_loss_falls(dinov2, tmp_path):
    cfg = _cfg(dinov2, epochs=12)
    embedder = load_embedder(dinov2)
    model, args = new_network(cfg, 16)
    hist = fit(
        model,
        RoomDataset(4),
        contrastive_step(embedder, cfg),
        lr=3e-3,
        cfg=cfg,
        out_dir=tmp_path,
        meta={"network": cfg.network, "net_args": args},
        progress=False,
    )
    first, last = hist[0]["loss"], min(h["loss"] for h in hist[-3:])
    assert last < 0.7 * first  # InfoNCE starts at ≈ ln(pairs) for unmatched features; a 30 % fall
    # (best of the last 3 epochs, so one lucky batch cannot fake it) means pixels and voxels match


def test_pretrain_on_an_occscannet_folder_uses_slic_and_the_embedder_width(dinov2, tmp_path):
    write_occscannet(tmp_path / "occ", 2)
    ckpt = pretrain(tmp_path / "occ", tmp_path / "run", _cfg(dinov2, epochs=1), progress=False)
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    assert meta["net_args"]["feature_dim"] == 16 and meta["epoch"] == 1
    assert np.isfinite(meta["history"][0]["loss"])


def test_superpixels_are_the_region_masks_or_slic():
    s = make_sample(0)
    rgb = s["image"].permute(1, 2, 0).numpy()
    regions = s["regions"].numpy()
    cfg = TrainConfig()
    assert superpixels(rgb, regions, cfg) is regions
    slic_ids = superpixels(rgb, np.full_like(regions, -1), cfg)
    assert slic_ids.shape == regions.shape and len(np.unique(slic_ids)) > 4
    assert len(np.unique(superpixels(rgb, regions, TrainConfig(superpixels="slic")))) > 4


def test_a_frame_without_depth_is_a_clear_error(dinov2, tmp_path):
    ds = RoomDataset(2)
    ds.samples[1]["depth"] = torch.zeros_like(ds.samples[1]["depth"])
    cfg = _cfg(dinov2, epochs=1)
    model, args = new_network(cfg, 16)
    with pytest.raises(FormatError, match="room-1: no depth"):
        fit(
            model,
            ds,
            contrastive_step(load_embedder(dinov2), cfg),
            lr=1e-3,
            cfg=cfg,
            out_dir=tmp_path,
            meta={},
            progress=False,
        )
