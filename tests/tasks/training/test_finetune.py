"""Fine-tuning: overfits a few samples, re-initialises the head, resumes a killed run exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.occupancy.checkpoint import save_checkpoint
from models.occupancy.registry import build_network
from storage.config import TrainConfig
from tasks.training.evaluate import evaluate_model
from tasks.training.finetune import (
    class_counts,
    class_weights,
    finetune,
    occupancy_step,
)
from tasks.training.trainer import fit, init_network, label_subset, new_network
from tests.models.occupancy.tiny import TINY_NET
from tests.support.tiny_training import RoomDataset, write_occscannet

torch.set_num_threads(2)


def _cfg(**kw) -> TrainConfig:
    base = {
        "device": "cpu",
        "feature_dim": 8,
        "net_args": TINY_NET,
        "batch_size": 1,
        "epochs": 2,
        "milestones": [1],
    }
    return TrainConfig(**(base | kw))


@pytest.mark.slow
def test_finetuning_from_scratch_overfits_four_samples(tmp_path):
    ds = RoomDataset(4)
    net = {"enc_widths": (16, 32), "lift_dim": 16, "unet_widths": (16, 32)}
    cfg = _cfg(epochs=80, milestones=[70], feature_dim=16, net_args=net)
    model, net_args = new_network(cfg)
    args = {"network": cfg.network, "net_args": net_args}
    weights = torch.from_numpy(class_weights(class_counts(ds), cfg.class_weighting))
    hist = fit(
        model,
        ds,
        occupancy_step(weights),
        lr=3e-3,
        cfg=cfg,
        out_dir=tmp_path,
        meta=args,
        progress=False,
    )
    assert hist[-1]["loss"] < 0.1 * hist[0]["loss"]
    # the tiny room holds a few of the 11 classes: overfitting is judged on the classes present
    assert evaluate_model(model, ds, 4, progress=False, average="present").miou() >= 90.0


def test_head_is_reinitialised_and_everything_else_loaded(tmp_path):
    cfg = _cfg()
    torch.manual_seed(123)
    pre = build_network("monoscene-lite", feature_dim=8, **TINY_NET)
    save_checkpoint(
        tmp_path / "pre",
        pre,
        {"network": "monoscene-lite", "net_args": {"feature_dim": 8, **TINY_NET}},
    )
    model, meta = init_network(cfg, tmp_path / "pre", skip_head=True)
    fresh, _ = new_network(cfg)
    assert meta["net_args"]["feature_dim"] == 8
    for k, v in model.state_dict().items():
        if k.startswith("head."):
            assert not torch.equal(v, pre.state_dict()[k]), k
            assert torch.equal(v, fresh.state_dict()[k]), k  # the seeded fresh init
        else:
            assert torch.equal(v, pre.state_dict()[k]), k


class _Killed(Exception):
    pass


class _DiesAfter(torch.utils.data.Dataset):
    """A dataset that raises on its n-th read, like a run killed mid-epoch."""

    def __init__(self, inner, n: int | None) -> None:
        self.inner, self.n, self.reads = inner, n, 0

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i):
        self.reads += 1
        if self.n is not None and self.reads >= self.n:
            raise _Killed
        return self.inner[i]


def test_killed_run_resumes_from_its_checkpoint_to_the_same_weights(tmp_path):
    ds = RoomDataset(2)
    cfg = _cfg(epochs=3, milestones=[2])
    step = occupancy_step(torch.ones(12))

    def run(out, data, resume=True):
        model, args = new_network(cfg)
        meta = {"network": cfg.network, "net_args": args}
        fit(
            model,
            data,
            step,
            lr=1e-3,
            cfg=cfg,
            out_dir=out,
            meta=meta,
            resume=resume,
            progress=False,
        )
        return model

    straight = run(tmp_path / "a", ds)
    with pytest.raises(_Killed):
        run(tmp_path / "b", _DiesAfter(ds, 4))  # dies in epoch 2, after epoch 1 was saved
    resumed = run(tmp_path / "b", ds)
    for (k, a), (_, b) in zip(
        straight.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    rows = (tmp_path / "b" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3 and rows[0].startswith("epoch,loss,lr")


def test_label_fraction_is_a_fixed_seeded_subset():
    a = label_subset(100, 0.1, seed=0)
    assert len(a) == 10 and np.array_equal(a, label_subset(100, 0.1, seed=0))
    assert not np.array_equal(a, label_subset(100, 0.1, seed=1))
    assert len(label_subset(3, 0.1, seed=0)) == 1
    with pytest.raises(ValueError):
        label_subset(10, 0.0, seed=0)


def test_rare_classes_weigh_more():
    w = class_weights(np.array([1000, 0, 10, 100, 0, 1, 0, 0, 0, 0, 0, 0]), "inverse_log")
    assert w[5] > w[2] > w[3] > w[0]
    assert np.all(class_weights(np.ones(12), "none") == 1)


def test_finetune_on_an_occscannet_folder_writes_checkpoint_and_metrics(tmp_path):
    write_occscannet(tmp_path / "occ", 3)
    ckpt = finetune(
        tmp_path / "occ", tmp_path / "run", _cfg(epochs=1), label_fraction=0.5, progress=False
    )
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    assert meta["label_fraction"] == 0.5 and meta["epoch"] == 1
    assert (tmp_path / "run" / "metrics.csv").is_file()


def test_evaluation_resizes_images_to_the_size_the_checkpoint_was_trained_at(tmp_path):
    """A checkpoint trained on 24×32 images is evaluated on 24×32 unless told otherwise, not at
    the stored 48×64 (the network would see every object at twice its learned pixel size)."""
    from tasks.training.evaluate import evaluate

    write_occscannet(tmp_path / "occ", 1)
    write_occscannet(tmp_path / "occ", 1, "val", first=1)
    ckpt = finetune(tmp_path / "occ", tmp_path / "run", _cfg(epochs=1, image_hw=(24, 32)),
                    progress=False)  # fmt: skip
    default = evaluate(ckpt, tmp_path / "occ", tmp_path / "a.json", _cfg(), progress=False)
    assert default["image_hw"] == [24, 32]
    same = evaluate(ckpt, tmp_path / "occ", tmp_path / "b.json", _cfg(image_hw=(24, 32)),
                    progress=False)  # fmt: skip
    assert same["iou"] == default["iou"] and same["per_class"] == default["per_class"]
    told = evaluate(ckpt, tmp_path / "occ", tmp_path / "c.json", _cfg(image_hw=(48, 64)),
                    progress=False)  # fmt: skip
    assert told["image_hw"] == [48, 64]


@pytest.mark.slow
def test_monoscene_finetunes_with_its_five_losses_and_evaluates(tmp_path):
    """MonoScene (timm's tiny EfficientNet, 8-wide 3D net) through fine-tuning and evaluation."""
    from tasks.training.evaluate import evaluate

    write_occscannet(tmp_path / "occ", 2)
    write_occscannet(tmp_path / "occ", 1, "val", first=2)
    cfg = _cfg(preset="monoscene-nyu", epochs=1, net_args={
        "backbone": "test_efficientnet", "backbone_weights": None, "feature": 8})  # fmt: skip
    ckpt = finetune(tmp_path / "occ", tmp_path / "run", cfg, progress=False)
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    assert meta["network"] == "monoscene"
    assert meta["class_weights"][:2] == pytest.approx([0.05, 1.0])
    row = meta["history"][0]
    parts = {"loss_ce", "loss_sem_scal", "loss_geo_scal", "loss_relation", "loss_frustum"}
    assert parts <= set(row) and all(np.isfinite(row[k]) for k in parts)
    assert row["loss"] == pytest.approx(sum(row[k] for k in parts), rel=1e-4)
    summary = evaluate(ckpt, tmp_path / "occ", tmp_path / "m.json", cfg, progress=False)
    assert summary["samples"] == 1 and 0 <= summary["iou"] <= 100
    model, _ = init_network(
        cfg, ckpt, skip_head=True
    )  # from the fine-tuned weights, head re-initialised
    assert model.head_prefix == "net_3d_decoder.ssc_head_1_4."
