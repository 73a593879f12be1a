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


def test_key_mismatches_name_the_missing_and_the_extra_keys(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = save_checkpoint(tmp_path / "ck", _net(0), _meta())
    weights = load_file(str(folder / "model.safetensors"))
    key = sorted(weights)[0]
    weights["renamed.weight"] = weights.pop(key)
    save_file(weights, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError) as info:
        load_weights(folder, _net(0))
    msg = str(info.value)
    assert f"missing ['{key}']" in msg and "extra ['renamed.weight']" in msg
    assert str(folder / "model.safetensors") in msg


def test_a_folder_missing_either_file_is_not_a_checkpoint(tmp_path):
    from models.occupancy.checkpoint import read_meta

    folder = save_checkpoint(tmp_path / "ck", _net(0), _meta())
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        read_meta(folder)  # the JSON alone: an interrupted save
    with pytest.raises(CheckpointError, match=r"model\.safetensors: missing"):
        load_weights(folder, _net(0))


def test_a_truncated_train_state_is_refused_naming_the_file_and_the_cause(tmp_path):
    net = _net(0)
    opt = torch.optim.AdamW(net.parameters())
    folder = save_checkpoint(tmp_path / "ck", net, _meta(), {"optimizer": opt.state_dict()})
    state = folder / "train_state.pt"
    state.write_bytes(state.read_bytes()[:200])
    with pytest.raises(CheckpointError) as info:
        load_train_state(folder)
    msg = str(info.value)  # torch's own cause, not its paragraph about weights_only's default
    assert msg == (f"{state}: unreadable or truncated checkpoint (PytorchStreamReader failed "
                   "reading zip archive: failed finding central directory)"), msg  # fmt: skip


def test_checkpoint_meta_reads_our_folder_and_a_released_lightning_file(tmp_path):
    """What fine-tuning and ``ytocc eval`` ask of a checkpoint before loading it: our folder's
    JSON, or a released MonoScene ``.ckpt``'s arguments read from its shapes (+ overrides)."""
    from models.occupancy.checkpoint import checkpoint_meta, is_lightning, read_meta
    from tests.models.occupancy.monoscene_official import (
        monoscene_table,
        write_lightning_checkpoint,
    )

    folder = save_checkpoint(tmp_path / "ours", _net(0), _meta())
    assert not is_lightning(folder) and checkpoint_meta(folder) == read_meta(folder)
    ckpt = tmp_path / "monoscene.ckpt"
    write_lightning_checkpoint(ckpt, monoscene_table(feature=8, width=1.0, depth=1.0,
                                                     scene=(16, 8, 16)))  # fmt: skip
    assert is_lightning(ckpt)
    meta = checkpoint_meta(ckpt, backbone="tf_efficientnet_b0", dims=(16, 16, 8))
    assert meta["network"] == "monoscene" and meta["net_args"]["backbone"] == "tf_efficientnet_b0"
    assert meta["net_args"]["feature"] == 8


def test_a_loaded_network_is_on_the_device_asked_for(tmp_path):
    folder = save_checkpoint(tmp_path / "ours", _net(0), _meta())
    net = load_network(folder, "meta")  # a device without memory
    assert {p.device.type for p in net.parameters()} == {"meta"}


def test_a_train_state_saved_on_a_gpu_resumes_on_the_cpu(tmp_path, monkeypatch):
    """A run trained on a GPU resumes on a CPU-only machine, its state read onto the CPU (where
    the trainer moves it): ``map_location``. The file is what ``torch.save`` writes on a GPU,
    its storages tagged ``cuda:0``; torch's location tag is set so while saving, so no GPU is
    needed to write it (on a CPU-only machine torch itself refuses such a file unmapped)."""
    import torch.serialization

    net = _net(0)
    opt = torch.optim.AdamW(net.parameters())
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    opt.step()  # moments to save
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        folder = save_checkpoint(tmp_path / "ck", net, _meta(), {"optimizer": opt.state_dict()})
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(folder / "train_state.pt", weights_only=True)
    state = load_train_state(folder)["optimizer"]["state"]
    assert state and {t.device.type for s in state.values() for t in s.values()} == {"cpu"}
    for k, s in opt.state_dict()["state"].items():
        assert torch.equal(state[k]["exp_avg"], s["exp_avg"])


def test_loading_a_checkpoint_looks_up_no_pretrained_backbone(tmp_path, monkeypatch):
    """The checkpoint holds the backbone's weights: rebuilding its network must not look up the
    pretrained backbone its arguments name (not in the Hub cache here, and offline, so a
    lookup fails: shown first)."""
    from models.weights import WeightsNotFound

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    args = {"backbone": "test_efficientnet", "backbone_weights": "timm/not-in-the-cache",
            "feature": 8, "dims": [16, 12, 8]}  # fmt: skip
    with pytest.raises(WeightsNotFound, match="not-in-the-cache"):
        build_network("monoscene", **args)
    torch.manual_seed(0)
    net = build_network("monoscene", pretrained=False, **args)
    folder = save_checkpoint(tmp_path / "ck", net, {"network": "monoscene", "net_args": args})
    back = load_network(folder).state_dict()
    assert all(torch.equal(v, back[k]) for k, v in net.state_dict().items())
