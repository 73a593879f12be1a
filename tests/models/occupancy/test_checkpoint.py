"""Checkpoints round-trip through safetensors; the head can be left out; bad folders are named."""

from __future__ import annotations

import pytest
import torch

from models.occupancy.checkpoint import (
    CheckpointError,
    load_network,
    load_train_state,
    load_weights,
    save_checkpoint,
)
from models.occupancy.registry import build_network
from tests.models.occupancy.tiny import TINY_NET


def _net(seed: int, dim: int = 8):
    torch.manual_seed(seed)
    return build_network("monoscene-lite", feature_dim=dim, **TINY_NET)


def _meta(dim: int = 8):
    return {"network": "monoscene-lite", "net_args": {"feature_dim": dim, **TINY_NET}}


def test_saved_network_loads_back_identical(tmp_path):
    net = _net(0)
    opt = torch.optim.AdamW(net.parameters())
    save_checkpoint(tmp_path / "ck", net, _meta(), {"optimizer": opt.state_dict()})
    back = load_network(tmp_path / "ck")
    for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert "optimizer" in load_train_state(tmp_path / "ck")


def test_skip_head_keeps_the_receivers_head(tmp_path):
    save_checkpoint(tmp_path / "ck", _net(0), _meta())
    other = _net(1)
    head_before = other.head.weight.clone()
    skipped = load_weights(tmp_path / "ck", other, skip_head=True)
    assert skipped == ["head.bias", "head.weight"]
    assert torch.equal(other.head.weight, head_before)
    assert torch.equal(other.project.weight, _net(0).project.weight)


def test_mismatched_or_missing_checkpoints_fail_clearly(tmp_path):
    save_checkpoint(tmp_path / "ck", _net(0, dim=8), _meta())
    with pytest.raises(CheckpointError, match="shapes differ"):
        load_weights(tmp_path / "ck", _net(0, dim=16))
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_network(tmp_path / "nothing")
