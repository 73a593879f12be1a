"""The training loop: a run killed mid-epoch resumes to the same weights, gradients accumulate
over batches, loss parts reach the CSV/JSON logs, presets fill the schedule, and pretraining
projects a network's features when its width differs from the embedder's."""

from __future__ import annotations

import json

import pytest
import torch

from models.embed import save_random_dinov2
from models.occupancy.checkpoint import load_train_state
from storage.config import TRAIN_PRESETS, ConfigError, TrainConfig, load_config
from tasks.training.finetune import occupancy_step
from tasks.training.pretrain import pretrain
from tasks.training.trainer import epoch_order, fit, new_network
from tests.models.occupancy.tiny import TINY_NET
from tests.support.tiny_training import RoomDataset, write_occscannet

torch.set_num_threads(2)


def _cfg(**kw) -> TrainConfig:
    base = {"device": "cpu", "feature_dim": 8, "net_args": TINY_NET, "batch_size": 1,
            "epochs": 2, "milestones": [1]}  # fmt: skip
    return TrainConfig(**(base | kw))


class _Killed(Exception):
    pass


class _DiesAfter(torch.utils.data.Dataset):
    def __init__(self, inner, n: int) -> None:
        self.inner, self.n, self.reads = inner, n, 0

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i):
        self.reads += 1
        if self.reads >= self.n:
            raise _Killed
        return self.inner[i]


def _run(cfg, out, data, step=None):
    model, args = new_network(cfg)
    hist = fit(model, data, step or occupancy_step(torch.ones(12)), lr=1e-3, cfg=cfg,
               out_dir=out, meta={"network": cfg.network, "net_args": args}, progress=False)  # fmt: skip
    return model, hist


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path):
    ds = RoomDataset(3)
    cfg = _cfg(epochs=1, checkpoint_every=1)
    straight, hist_a = _run(cfg, tmp_path / "a", ds)
    with pytest.raises(_Killed):
        _run(cfg, tmp_path / "b", _DiesAfter(ds, 3))  # dies on the 3rd sample of epoch 1
    meta = json.loads((tmp_path / "b" / "last" / "checkpoint.json").read_text())
    assert meta["epoch"] == 0 and meta["partial"]["batches"] == 2
    resumed, hist_b = _run(cfg, tmp_path / "b", ds)
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(),
                              strict=True):  # fmt: skip
        assert torch.equal(a, b), k
    assert [h["loss"] for h in hist_a] == pytest.approx([h["loss"] for h in hist_b])


def test_gradients_accumulate_over_batches(tmp_path):
    _run(_cfg(epochs=1, accumulate_steps=2), tmp_path, RoomDataset(3))
    state = load_train_state(tmp_path / "last")
    # 3 batches, a step every 2 and one for the remainder at the epoch's end
    assert int(state["optimizer"]["state"][0]["step"]) == 2


def test_loss_parts_reach_the_csv_and_json_logs(tmp_path):
    ce = occupancy_step(torch.ones(12))

    def step(model, batch):
        loss = ce(model, batch)
        return {"loss": 2 * loss, "ce": loss, "ce_again": loss}

    _, hist = _run(_cfg(epochs=1), tmp_path, RoomDataset(2), step)
    logged = json.loads((tmp_path / "metrics.json").read_text())
    assert logged["last"]["loss"] == pytest.approx(2 * logged["last"]["loss_ce"])
    assert logged["epochs"] == hist
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].endswith("loss_ce,loss_ce_again")
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))  # TensorBoard scalars


def test_epoch_order_is_a_seeded_permutation():
    a = epoch_order(10, seed=0, epoch=1)
    assert sorted(a.tolist()) == list(range(10)) and torch.equal(a, epoch_order(10, 0, 1))
    assert not torch.equal(a, epoch_order(10, 0, 2))


def test_presets_fill_the_schedule_and_explicit_keys_win():
    cfg = load_config(None, ["train.preset=monoscene-nyu", "train.epochs=3"]).train
    assert cfg.network == "monoscene" and cfg.finetune_lr == 1e-4 and cfg.milestones == [20]
    assert cfg.class_weighting == "monoscene-nyu" and cfg.epochs == 3
    paper = load_config(None, ["train.preset=paper-pretrain"]).train
    assert paper.pretrain_lr == 8e-4 and paper.epochs == 30
    assert TRAIN_PRESETS["paper-finetune"]["finetune_lr"] == 2e-4
    with pytest.raises(ConfigError, match="unknown train.preset 'fast'"):
        load_config(None, ["train.preset=fast"])


def test_pretraining_projects_features_whose_width_differs(tmp_path):
    dinov2 = save_random_dinov2(tmp_path / "dinov2")  # width 16
    write_occscannet(tmp_path / "occ", 2)
    cfg = _cfg(embed_weights=dinov2, net_args={**TINY_NET, "feature_dim": 8}, batch_size=2,
               pixel_stride=2, embed_input_size=28, epochs=1)  # fmt: skip
    ckpt = pretrain(tmp_path / "occ", tmp_path / "run", cfg, progress=False)
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    assert meta["net_args"]["feature_dim"] == 8
    proj = load_train_state(ckpt)["extra"]["projector"]
    assert tuple(proj["weight"].shape) == (16, 8, 1, 1, 1)


@pytest.mark.parametrize("prefix", ["", "model."])
def test_init_from_monoscenes_lightning_ckpt_loads_all_but_the_head(tmp_path, prefix):
    """`--init monoscene_nyu.ckpt`: the network comes from the file's shapes (cfg.net_args
    override, here a small backbone and grid), every tensor but the head's is the file's, with
    or without the ``model.`` prefix of a LightningModule that wraps the network."""
    from models.occupancy.checkpoint import CheckpointError
    from tasks.training.trainer import init_network
    from tests.models.occupancy.monoscene_official import (
        monoscene_table,
        write_lightning_checkpoint,
    )

    ckpt = tmp_path / "monoscene_nyu.ckpt"
    table = monoscene_table(feature=8, width=1.0, depth=1.0, scene=(16, 8, 16))
    state = write_lightning_checkpoint(ckpt, table, prefix=prefix)
    cfg = _cfg(net_args={"backbone": "tf_efficientnet_b0", "dims": [16, 16, 8]})
    model, meta = init_network(cfg, ckpt, skip_head=True)
    assert meta["network"] == "monoscene" and meta["net_args"]["feature"] == 8
    own = model.state_dict()
    head = "net_3d_decoder.ssc_head_1_4."
    assert set(own) == set(state)
    for k, v in state.items():
        assert torch.equal(own[k], v) != k.startswith(head), k  # loaded exactly when not head
    full, _ = init_network(cfg, ckpt, skip_head=False)  # pretraining keeps the head too
    assert all(torch.equal(full.state_dict()[k], v) for k, v in state.items())
    wrong = _cfg(net_args={"backbone": "tf_efficientnet_b0", "dims": [24, 16, 8]})
    with pytest.raises(
        CheckpointError, match=r"monoscene_nyu.ckpt: \d+ shapes differ: \['net_3d_decoder.CP_mega"
    ):
        init_network(wrong, ckpt, skip_head=True)  # 6 CRP mega voxels, not 4


def test_detect_kind_names_the_splits_of_a_ytocc_folder_that_lacks_one(tmp_path):
    """A frozen dataset asked for a split it has not is a ytocc folder without that split,
    not "not a dataset folder"."""
    from storage.config import Config
    from storage.formats import FormatError
    from storage.layout import DataRoot
    from tasks.dataset import freeze
    from tasks.training.trainer import detect_kind
    from tests.support.tiny_dataset import build_root

    root = DataRoot.at(tmp_path / "data")
    build_root(root, {"vidA": 1, "vidB": 1})
    ds = freeze(root, Config(), "demo").path
    assert detect_kind(ds, "val") == "ytocc"
    with pytest.raises(FormatError, match=r"without a 'test' split \(its splits: train, val;"):
        detect_kind(ds, "test")
