"""Training flows and the `ytocc train` commands on tiny OccScanNet-format folders."""

from __future__ import annotations

import json
from pathlib import Path

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


def _finetune(folders: Path, tmp_path: Path, *args: str):
    """`ytocc train finetune` on the test dataset into tmp_path/ft on CPU, with `args` added."""
    _register()
    return CliRunner().invoke(
        app,
        ["train", "finetune", "--dataset", str(folders / "occ"), "--out", str(tmp_path / "ft"),
         *args, "--set", "train.device=cpu"],
    )  # fmt: skip


def test_preflight_names_a_missing_backbone_with_its_download_command(
    tmp_path, prefect_harness, folders, monkeypatch
):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    res = _finetune(folders, tmp_path, "--preset", "monoscene-nyu")
    assert res.exit_code == 2, res.output
    assert "monoscene image backbone" in res.output
    assert "download timm/tf_efficientnet_b7.ns_jft_in1k model.safetensors" in res.output


def test_symphonies_fails_with_its_install_line(tmp_path, prefect_harness, folders):
    res = _finetune(folders, tmp_path, "--set", "train.network=symphonies")
    assert res.exit_code == 2, res.output  # refused by the preflight, before any work
    assert "network 'symphonies' needs" in res.output and "mim install" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "ft").exists()


def _run_artifacts(state) -> dict[str, object]:
    """The artifacts a flow run (its final `state`) published, by key."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {a.key: a for a in arts}


def test_pretraining_publishes_its_run_summary_and_epoch_table(folders, tmp_path, prefect_harness):
    """The pretrain artifact says what the run measured: epochs, loss curve, samples/s, the
    contrastive retrieval top-1 against its chance level; a table artifact holds every epoch."""
    from flows.train import pretrain_flow

    cfg = TrainConfig(device="cpu", embed_weights=str(folders / "dinov2"), net_args=TINY_NET,
                      embed_input_size=28, batch_size=2, epochs=2, feature_dim=16)  # fmt: skip
    state = pretrain_flow(str(folders / "occ"), str(tmp_path / "pre"), cfg, return_state=True)
    assert state.is_completed()
    epochs = json.loads((tmp_path / "pre" / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:  # per-batch means: mean(1/pairs) ≥ 1/mean(pairs) (Jensen), equal for one
        assert 0 <= e["top1"] <= 1 and e["pairs"] >= 2 and e["chance_top1"] >= 1 / e["pairs"]
    arts = _run_artifacts(state)
    text = arts["pretrain"].data
    assert f"{epochs[0]['loss']:.4g} (epoch 1) → {epochs[1]['loss']:.4g} (epoch 2)" in text
    assert f"{100 * epochs[1]['top1']:.1f} % (chance {100 * epochs[1]['chance_top1']:.1f} %" in text
    mean_rate = (epochs[0]["samples_per_s"] + epochs[1]["samples_per_s"]) / 2
    assert f"throughput: {mean_rate:.4g} samples/s" in text
    assert "| epoch | loss | lr | samples_per_s | skipped_batches | top1 |" in text
    table = json.loads(arts["pretrain-epochs"].data)
    assert [r["epoch"] for r in table] == [1, 2]
    assert table[1]["top1"] == pytest.approx(epochs[1]["top1"])


class Payload:
    """A class no weights-only reader may rebuild (stands for a malicious pickle's payload)."""


@pytest.mark.parametrize("command", ["pretrain", "finetune"])
def test_init_with_a_bad_lightning_ckpt_is_one_error_line(command, folders, tmp_path,
                                                          prefect_harness):  # fmt: skip
    """`--init X.ckpt` refuses, before any work: a file that would unpickle a foreign class,
    a Lightning checkpoint of some other network, and MonoScene weights that do not fit the
    configured MonoScene (EfficientNet-B0 weights, B2 configured)."""
    from tests.models.occupancy.monoscene_official import (
        monoscene_table,
        write_lightning_checkpoint,
    )

    _register()
    evil, other, tiny = tmp_path / "evil.ckpt", tmp_path / "other.ckpt", tmp_path / "tiny.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Payload()}, evil)
    torch.save({"state_dict": {"model.encoder.weight": torch.zeros(2)}, "epoch": 3}, other)
    write_lightning_checkpoint(tiny, monoscene_table(feature=8, width=1.0, depth=1.0))
    base = ["train", command, "--dataset", str(folders / "occ"), "--out", str(tmp_path / "r"),
            *_sets(folders)]  # fmt: skip
    for path, code, said in (
        (evil, 2, "evil.ckpt: refusing to unpickle ['tests.flows.test_train.Payload']"),
        (other, 2, "other.ckpt: not a MonoScene state dict (no net_3d_decoder.ssc_head_1_4."),
        (tiny, 2, "tiny.ckpt: 148 keys missing (e.g. ['net_rgb.encoder.original_model.blocks"),
    ):
        res = CliRunner().invoke(app, [*base, "--init", str(path), "--set",
                                       "train.net_args={backbone: tf_efficientnet_b2}"])  # fmt: skip
        assert res.exit_code == code, res.output
        errors = [line for line in res.output.splitlines() if line.startswith("error")]
        assert len(errors) == 1 and said in res.output, res.output  # the preflight: one item
        assert "Traceback" not in res.output and res.output.count(str(path)) == 1
    assert not (tmp_path / "r" / "last").exists()


@pytest.mark.slow  # MonoScene (EfficientNet-B0, 8 wide) on the full 60×60×36 grid: ~1 min on CPU
def test_finetune_starts_from_monoscenes_lightning_ckpt(folders, tmp_path, prefect_harness):
    """`ytocc train finetune --init monoscene_nyu.ckpt` (the official layout, a small backbone):
    the run is MonoScene built from the file, and its checkpoint records where it started."""
    from tests.models.occupancy.monoscene_official import (
        monoscene_table,
        write_lightning_checkpoint,
    )

    ckpt = tmp_path / "monoscene_nyu.ckpt"
    write_lightning_checkpoint(ckpt, monoscene_table(feature=8, width=1.0, depth=1.0))
    res = _finetune(folders, tmp_path, "--init", str(ckpt), "--epochs", "1",
                    "--set", "train.net_args={backbone: tf_efficientnet_b0}")  # fmt: skip
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "ft" / "last" / "checkpoint.json").read_text())
    assert meta["network"] == "monoscene" and meta["init"] == str(ckpt)
    assert meta["net_args"]["feature"] == 8 and meta["net_args"]["backbone"] == "tf_efficientnet_b0"
