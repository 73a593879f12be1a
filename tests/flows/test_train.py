"""Training flows and the `ytocc train` commands on tiny OccScanNet-format folders."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from flows.cli import _register, app
from flows.train import label_efficiency_flow
from models.embed import save_random_dinov2
from storage.config import TrainConfig
from tests.models.occupancy.tiny import TINY_NET
from tests.support.tiny_training import write_occscannet

torch.set_num_threads(2)
TINY_SET = "train.net_args={enc_widths: [8, 16], lift_dim: 8, unet_widths: [8, 16]}"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    write_occscannet(root / "occ", 3, "train")
    write_occscannet(root / "occ", 2, "val", first=3)
    save_random_dinov2(root / "dinov2")
    return root


def _sets(folders) -> list[str]:
    sets = [
        TINY_SET,
        "train.device=cpu",
        f"train.embed_weights={folders / 'dinov2'}",
        "train.embed_input_size=28",
        "train.batch_size=2",
        "train.feature_dim=16",
    ]
    return [x for s in sets for x in ("--set", s)]


def test_label_efficiency_flow_makes_one_table(folders, tmp_path, prefect_harness):
    cfg = TrainConfig(
        device="cpu",
        embed_weights=str(folders / "dinov2"),
        net_args=TINY_NET,
        embed_input_size=28,
        batch_size=2,
        epochs=1,
    )
    rows = label_efficiency_flow(
        str(folders / "occ"), str(folders / "occ"), str(tmp_path), cfg, fractions=[0.5, 1.0]
    )
    assert [r["fraction"] for r in rows] == [0.5, 1.0]
    table = (tmp_path / "label_efficiency.md").read_text().splitlines()
    assert table[0].startswith("| Labels | Scratch mIoU") and table[2].startswith("| 50% |")
    init = json.loads((tmp_path / "finetune-050-pretrained/last/checkpoint.json").read_text())[
        "init"
    ]
    assert init == str(tmp_path / "pretrain" / "last")
    assert (tmp_path / "finetune-100-scratch" / "metrics.md").is_file()
    saved = json.loads((tmp_path / "label_efficiency.json").read_text(), parse_constant=pytest.fail)
    assert [r["fraction"] for r in saved] == [0.5, 1.0]


def test_train_commands_pretrain_finetune_evaluate(folders, tmp_path, prefect_harness):
    _register()
    run = CliRunner()
    occ, sets = str(folders / "occ"), _sets(folders)
    res = run.invoke(
        app,
        [
            "train",
            "pretrain",
            "--dataset",
            occ,
            "--out",
            str(tmp_path / "pre"),
            "--epochs",
            "1",
            *sets,
        ],
    )
    assert res.exit_code == 0, res.output
    assert "epoch 1" in res.output
    res = run.invoke(
        app,
        [
            "train",
            "finetune",
            "--dataset",
            occ,
            "--out",
            str(tmp_path / "ft"),
            "--init",
            str(tmp_path / "pre" / "last"),
            "--label-fraction",
            "0.5",
            "--epochs",
            "1",
            *sets,
        ],
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "m.json"
    res = run.invoke(
        app,
        [
            "train",
            "evaluate",
            "--checkpoint",
            str(tmp_path / "ft" / "last"),
            "--dataset",
            occ,
            "--out",
            str(out),
            *sets,
        ],
    )
    assert res.exit_code == 0, res.output
    got = json.loads(out.read_text())
    assert set(got) >= {"iou", "miou", "per_class"} and got["samples"] == 2
    assert out.with_suffix(".md").read_text().startswith("| Method | IoU |")


def test_missing_dataset_folder_is_one_clear_error(tmp_path, prefect_harness):
    _register()
    res = CliRunner().invoke(
        app,
        ["train", "finetune", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "ft")],
    )
    assert res.exit_code == 2  # a bad --dataset: refused before any work
    assert "nope: dataset folder does not exist" in res.output


def test_pretrain_and_finetune_read_a_frozen_ytocc_dataset(
    folders, tmp_path, root, prefect_harness
):
    from flows.train import finetune_flow, pretrain_flow
    from storage.config import Config
    from storage.formats import FormatError
    from tasks.dataset import freeze
    from tests.support.tiny_dataset import build_root

    build_root(root, {"vidA": 1, "vidB": 1, "vidC": 1}, frames=2, size=(48, 64))
    path = freeze(root, Config(), "demo").path
    cfg = TrainConfig(
        device="cpu",
        embed_weights=str(folders / "dinov2"),
        net_args=TINY_NET,
        embed_input_size=28,
        batch_size=2,
        epochs=1,
    )
    ft = finetune_flow(str(path), str(tmp_path / "ft"), cfg)
    meta = json.loads((tmp_path / "ft" / "last" / "checkpoint.json").read_text())
    assert meta["dataset"] == str(path) and ft.endswith("last") and meta["epoch"] == 1
    # these cameras look straight up and hit 3.5 m, above the grid: nothing to pair, said plainly
    with pytest.raises(FormatError, match=r"all \d+ batches skipped; no pixel back-projects"):
        pretrain_flow(str(path), str(tmp_path / "pre"), cfg)


@pytest.mark.slow
def test_evaluate_reads_monoscenes_released_checkpoint_on_nyu(tmp_path, prefect_harness):
    """`ytocc train evaluate --checkpoint monoscene_nyu.ckpt --dataset NYU_PREPROCESS`, with a
    checkpoint of the official layout (EfficientNet-B0 in place of B7, an 8-wide 3D net)."""
    from tests.models.occupancy.monoscene_official import (
        monoscene_table,
        write_lightning_checkpoint,
    )
    from tests.support.tiny_training import write_nyu

    _register()
    write_nyu(tmp_path / "nyu", 2, "test")
    ckpt = tmp_path / "monoscene_nyu.ckpt"
    write_lightning_checkpoint(ckpt, monoscene_table(feature=8, width=1.0, depth=1.0))
    out = tmp_path / "m.json"
    res = CliRunner().invoke(
        app,
        ["train", "evaluate", "--checkpoint", str(ckpt), "--dataset", str(tmp_path / "nyu"),
         "--split", "test", "--out", str(out), "--set", "train.device=cpu",
         "--set", "train.net_args={backbone: tf_efficientnet_b0}"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    got = json.loads(out.read_text())
    assert got["samples"] == 2 and 0 <= got["iou"] <= 100
    assert out.with_suffix(".md").read_text().splitlines()[2].startswith("| monoscene_nyu |")


def test_an_unreadable_released_checkpoint_is_one_clear_error(tmp_path, prefect_harness):
    from tests.support.tiny_training import write_nyu

    _register()
    write_nyu(tmp_path / "nyu", 1, "test")
    (tmp_path / "bad.ckpt").write_bytes(b"\x00junk")
    res = CliRunner().invoke(
        app,
        ["train", "evaluate", "--checkpoint", str(tmp_path / "bad.ckpt"), "--dataset",
         str(tmp_path / "nyu"), "--split", "test", "--out", str(tmp_path / "m.json")],
    )  # fmt: skip
    assert res.exit_code == 2  # the preflight refuses it before any work
    assert "error: " in res.output and "bad.ckpt: not a torch checkpoint" in res.output
    assert "Traceback" not in res.output


def test_preflight_names_a_missing_backbone_with_its_download_command(
    tmp_path, prefect_harness, folders, monkeypatch
):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    _register()
    res = CliRunner().invoke(
        app,
        ["train", "finetune", "--dataset", str(folders / "occ"), "--out", str(tmp_path / "ft"),
         "--preset", "monoscene-nyu", "--set", "train.device=cpu"],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "monoscene image backbone" in res.output
    assert "download timm/tf_efficientnet_b7.ns_jft_in1k model.safetensors" in res.output


def test_symphonies_fails_with_its_install_line(tmp_path, prefect_harness, folders):
    _register()
    res = CliRunner().invoke(
        app,
        ["train", "finetune", "--dataset", str(folders / "occ"), "--out", str(tmp_path / "ft"),
         "--set", "train.network=symphonies", "--set", "train.device=cpu"],
    )  # fmt: skip
    assert res.exit_code == 1
    assert "network 'symphonies' needs" in res.output and "mim install" in res.output
