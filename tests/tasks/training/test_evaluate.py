"""`ytocc eval` and the evaluation helpers match SSCMetrics on hand-made grids."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from flows.cli import _register, app
from models.metrics import SSCMetrics
from storage.config import GRID_DIMS
from storage.formats import FormatError
from tasks.training.evaluate import evaluate_dirs, markdown_table


def _grids():
    gt = np.zeros(GRID_DIMS, np.uint8)
    gt[:10] = 3  # wall
    gt[10:12] = 5  # chair
    gt[50:] = 255  # unknown
    pred = gt.copy()
    pred[10:11] = 0  # half the chair missed
    pred[20:22] = 3  # free predicted as wall
    pred[50:] = 7  # anything where unknown: ignored
    return pred, gt


def _write(tmp_path, pairs):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    for name, (pred, gt) in pairs.items():
        np.savez(tmp_path / "pred" / f"{name}.npz", pred=pred)
        np.savez(tmp_path / "gt" / f"{name}.npz", target=gt)


def test_eval_cli_writes_what_ssc_metrics_compute(tmp_path):
    pred, gt = _grids()
    pred2, gt2 = np.zeros(GRID_DIMS, np.uint8), np.zeros(GRID_DIMS, np.uint8)
    gt2[:, :, 0] = 2
    _write(tmp_path, {"a": (pred, gt), "b": (pred2, gt2)})
    _register()
    res = CliRunner().invoke(
        app,
        ["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--out", str(tmp_path / "m.json")],
    )
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "m.json").read_text(), parse_constant=pytest.fail)  # no NaN
    assert got["per_class"]["sofa"] == 0.0  # in neither: counts 0 (MonoScene's mean over 11)
    assert got["miou_average"] == "all"
    # wall, chair and floor occur: their IoUs over all 11 classes
    assert got["miou"] == pytest.approx((100 * 10 / 12 + 50.0 + 0.0) / 11, abs=1e-4)
    ref = SSCMetrics()
    ref.add(pred, gt)
    ref.add(pred2, gt2)
    assert got["iou"] == pytest.approx(ref.iou())
    assert got["miou"] == pytest.approx(ref.miou())
    # by hand: wall 10 layers right + 2 false layers → 10/12; chair 1 of 2 layers; floor 0 of 1
    assert got["per_class"]["wall"] == pytest.approx(100 * 10 / 12)
    assert got["per_class"]["chair"] == pytest.approx(50.0)
    assert got["per_class"]["floor"] == pytest.approx(0.0)
    layer, floor = 60 * 36, 60 * 60  # one x-slab; the floor of b, all missed
    tp, fp, fn = 11 * layer, 2 * layer, 1 * layer + floor
    assert got["iou"] == pytest.approx(100 * tp / (tp + fp + fn))


def test_eval_cli_averages_present_classes_on_request(tmp_path):
    pred, gt = _grids()
    _write(tmp_path, {"a": (pred, gt)})
    _register()
    out = tmp_path / "m.json"
    args = ["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--present-only"])
    assert res.exit_code == 0, res.output
    got = json.loads(out.read_text(), parse_constant=pytest.fail)
    assert got["per_class"]["sofa"] is None and got["miou_average"] == "present"
    assert got["classes_present"] == ["wall", "chair"]
    assert got["miou"] == pytest.approx((100 * 10 / 12 + 50.0) / 2, abs=1e-4)


def test_missing_prediction_and_wrong_shape_name_the_file(tmp_path):
    pred, gt = _grids()
    _write(tmp_path, {"a": (pred, gt), "b": (pred[:, :, :10], gt)})
    with pytest.raises(FormatError, match=r"b.npz: pred is uint8 \(60, 60, 10\)"):
        evaluate_dirs(tmp_path / "pred", tmp_path / "gt")
    (tmp_path / "pred" / "b.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(FormatError, match=r"b.npz: unreadable npz"):
        evaluate_dirs(tmp_path / "pred", tmp_path / "gt")
    (tmp_path / "pred" / "b.npz").unlink()
    _register()
    res = CliRunner().invoke(app, ["eval", str(tmp_path / "pred"), str(tmp_path / "gt")])
    assert res.exit_code == 2  # a bad input folder is a usage error
    assert "b.npz: missing" in res.output


def test_labels_out_of_range_name_the_pair_of_files(tmp_path):
    """A prediction holding 255 where the target is known (only a target may) names its file."""
    pred, gt = _grids()
    bad = pred.copy()
    bad[:1] = 255
    _write(tmp_path, {"a": (pred, gt), "b": (bad, gt)})
    with pytest.raises(FormatError, match=r"pred/b.npz vs .*gt/b.npz: labels must lie in 0..11"):
        evaluate_dirs(tmp_path / "pred", tmp_path / "gt")


def test_table_is_laid_out_like_the_paper():
    pred, gt = _grids()
    m = SSCMetrics()
    m.add(pred, gt)
    table = markdown_table([("ours", m.summary())])
    head, _, row = table.strip().splitlines()
    assert head.startswith("| Method | IoU | ceiling | floor | wall |") and head.endswith(
        "| mIoU |"
    )
    assert row.startswith("| ours | ") and f"{m.miou():.2f} |" in row
