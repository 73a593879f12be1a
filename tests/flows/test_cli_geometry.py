"""`ytocc align / clean / voxelize / reconstruct` per the command-line contract (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from flows.cli import _register, app
from models.geometry import transform_points
from tests.support.rooms import box_room, random_similarity, transform_poses

_register()
runner = CliRunner()


def _room_npz(path: Path, seed: int = 0, **extra) -> tuple[Path, np.ndarray]:
    pts, labels, cams = box_room(spacing=0.05, seed=seed)
    sim = random_similarity(seed)
    np.savez(
        path,
        points=transform_points(sim, pts).astype(np.float32),
        labels=labels,
        colors=np.zeros((len(pts), 3), np.uint8),
        cam2world=transform_poses(sim, cams).astype(np.float32),
        **extra,
    )
    return path, labels


def test_align_writes_metric_cloud_and_report(tmp_path: Path):
    src, labels = _room_npz(tmp_path / "in.npz")
    out, rep = tmp_path / "out.npz", tmp_path / "rep.json"
    result = runner.invoke(app, ["align", str(src), str(out), "--report", str(rep)])
    assert result.exit_code == 0, result.output
    report = json.loads(rep.read_text())
    assert {"rotation", "translation", "scale", "floor_z", "ceiling_z", "method"} <= set(report)
    z = np.load(out)
    assert set(z.files) == {"points", "labels", "colors", "cam2world"}
    assert abs(np.median(z["points"][labels == 2, 2])) < 0.02  # floor at 0
    assert abs(np.median(z["points"][labels == 1, 2]) - 2.8) < 0.02  # ceiling at 2.8 m
    assert np.allclose(z["cam2world"][:, 2, 3], 1.5, atol=0.03)
    assert np.array_equal(z["labels"], labels)


def test_align_fails_with_one_line_and_writes_nothing(tmp_path: Path):
    rng = np.random.default_rng(0)
    src = tmp_path / "blob.npz"
    np.savez(src, points=rng.normal(size=(3000, 3)).astype(np.float32))
    out, rep = tmp_path / "out.npz", tmp_path / "rep.json"
    result = runner.invoke(app, ["align", str(src), str(out), "--report", str(rep)])
    assert result.exit_code != 0
    assert "cannot align" in result.output and "Traceback" not in result.output
    assert not out.exists() and not rep.exists()


def test_clean_drops_outliers_and_keeps_keys(tmp_path: Path):
    pts, labels, _ = box_room(spacing=0.05)
    rng = np.random.default_rng(1)
    junk = rng.uniform(-20, 20, (200, 3))
    src = tmp_path / "in.npz"
    np.savez(
        src,
        points=np.concatenate([pts, junk]).astype(np.float32),
        labels=np.concatenate([labels, np.zeros(200, np.uint8)]),
    )
    out = tmp_path / "out.npz"
    result = runner.invoke(app, ["clean", str(src), str(out)])
    assert result.exit_code == 0, result.output
    assert "kept" in result.output
    z = np.load(out)
    assert set(z.files) == {"points", "labels"}
    assert len(z["points"]) == len(z["labels"])
    assert np.abs(z["points"]).max() < 6  # the far junk is gone
    assert len(z["points"]) > 0.95 * len(pts)  # the room stays


def test_voxelize_majority_ties_to_smaller_id_and_ignores_outside(tmp_path: Path):
    pts = np.array(
        [[0.01, 0.01, 0.01], [0.02, 0.02, 0.02], [0.03, 0.01, 0.01], [0.05, 0.05, 0.05],
         [0.09, 0.01, 0.01], [0.10, 0.02, 0.01], [9.0, 9.0, 9.0]],
        np.float32,
    )  # fmt: skip
    labels = np.array([5, 5, 3, 3, 7, 4, 1], np.uint8)
    src = tmp_path / "in.npz"
    np.savez(src, points=pts, labels=labels)
    out = tmp_path / "out.npz"
    args = ["voxelize", str(src), str(out), "--origin", "0,0,0", "--dims", "4,4,4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    z = np.load(out)
    assert z["target"].dtype == np.uint8 and z["target"].shape == (4, 4, 4)
    assert z["target"][0, 0, 0] == 3  # two 5s vs two 3s: tie → smaller id
    assert z["target"][1, 0, 0] == 4  # 7 vs 4 → 4
    assert (z["target"] > 0).sum() == 2  # the far point is outside and ignored
    assert np.allclose(z["voxel_origin"], 0) and np.isclose(z["voxel_size"], 0.08)


def test_voxelize_default_origin_is_min_corner(tmp_path: Path):
    pts = np.array([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]], np.float32)
    src = tmp_path / "in.npz"
    np.savez(src, points=pts, labels=np.array([2, 6], np.uint8))
    out = tmp_path / "out.npz"
    assert runner.invoke(app, ["voxelize", str(src), str(out)]).exit_code == 0
    z = np.load(out)
    assert np.allclose(z["voxel_origin"], [1, 2, 3]) and z["target"].shape == (60, 60, 36)
    assert z["target"][0, 0, 0] == 2 and z["target"][6, 6, 6] == 6


def test_voxelize_rejects_labels_outside_range(tmp_path: Path):
    src = tmp_path / "in.npz"
    np.savez(src, points=np.zeros((3, 3), np.float32), labels=np.array([1, 2, 40], np.uint8))
    out = tmp_path / "out.npz"
    result = runner.invoke(app, ["voxelize", str(src), str(out)])
    assert result.exit_code != 0 and "labels outside 0..11" in result.output
    assert not out.exists()


def test_reconstruct_reports_unknown_clip_without_traceback(tmp_path: Path):
    result = runner.invoke(app, ["reconstruct", "nope-000", "--data", str(tmp_path / "data")])
    assert result.exit_code == 2  # a bad argument: refused before any work
    assert "nope-000" in result.output and "Traceback" not in result.output
