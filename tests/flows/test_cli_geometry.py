"""`ytocc align / clean / voxelize / reconstruct` per the command-line contract (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
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
    assert result.exit_code == 2 and "labels outside 0..11" in result.output
    assert not out.exists()


def test_reconstruct_reports_unknown_clip_without_traceback(tmp_path: Path):
    (
        tmp_path / "data"
    ).mkdir()  # a data folder without that clip (a missing folder: test_cli_errors)
    result = runner.invoke(app, ["reconstruct", "nope-000", "--data", str(tmp_path / "data")])
    assert result.exit_code == 2  # a bad argument: refused before any work
    assert "nope-000" in result.output and "Traceback" not in result.output


def _one_line_error(result) -> str:
    """The command failed with a single `error: ...` line and no traceback."""
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize(
    "arrays, option, message",
    [
        ({"labels": np.ones(40, np.float32)}, [], "`labels` must be integers, got float32"),
        ({"labels": np.ones((40, 1), np.uint8)}, [], r"`labels` must have shape (40,)"),
        ({"labels": np.ones((40, 40), np.uint8)}, [], r"`labels` must have shape (40,)"),
        ({"labels": np.ones(40, bool)}, [], "`labels` must be integers"),
        ({}, ["--size", "nan"], "--size must be a positive number"),
        ({}, ["--size", "-0.1"], "--size must be a positive number"),
        ({}, ["--size", "inf"], "--size must be a positive number"),
        ({}, ["--origin", "nan,0,0"], "--origin must be finite"),
        ({}, ["--origin", "1,2"], "--origin must be three"),
        ({}, ["--dims", "60,60,nan"], "--dims must be three"),
        ({}, ["--dims", "4096,4096,4096"], "fewer than 2**31 voxels"),
        ({"points": np.full((40, 3), np.nan)}, [], "no finite point"),
        ({"points": np.ones((40, 2))}, [], "numeric `points` of shape (N,3)"),
        ({"points": np.array(["a"] * 120).reshape(40, 3)}, [], "numeric `points`"),
    ],
)
def test_voxelize_refuses_bad_inputs_and_options_in_one_line(tmp_path: Path, arrays, option,
                                                             message) -> None:  # fmt: skip
    """Was: float labels a TypeError traceback, (N,1) labels an N×N broadcast (OOM at 60,000
    points), nan sizes and origins an empty grid."""
    data = {"points": np.random.default_rng(0).uniform(0, 1, (40, 3)),
            "labels": np.ones(40, np.uint8)} | arrays  # fmt: skip
    src, out = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(src, **data)
    line = _one_line_error(runner.invoke(app, ["voxelize", str(src), str(out), *option]))
    assert message in line and not out.exists()


@pytest.mark.parametrize("command", ["align", "clean"])
@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"cam2world": np.full((2, 4, 4), np.nan)}, "`cam2world` holds non-finite values"),
        ({"cam2world": np.zeros((2, 3, 4))}, "`cam2world` must be numeric (F,4,4)"),
        ({"colors": np.zeros((5, 3), np.uint8)}, "`colors` must be numeric"),
        ({"labels": np.zeros(3000, np.float64)}, "`labels` must be integers"),
        ({"points": np.zeros((3000, 4))}, "numeric `points` of shape (N,3)"),
    ],
)
def test_align_and_clean_refuse_bad_arrays_in_one_line(tmp_path: Path, command, arrays,
                                                      message) -> None:  # fmt: skip
    pts, _, _ = box_room(spacing=0.1)
    src = tmp_path / "in.npz"
    np.savez(src, **({"points": pts[:3000]} | arrays))
    args = [command, str(src), str(tmp_path / "out.npz")]
    args += ["--report", str(tmp_path / "rep.json")] if command == "align" else []
    assert message in _one_line_error(runner.invoke(app, args))
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("command", ["align", "clean"])
def test_duplicated_clouds_are_not_degenerate(tmp_path: Path, command: str) -> None:
    """The reported case: np.savez('dup.npz', points=np.concatenate([p, p]))."""
    pts, _, cams = box_room(spacing=0.05)
    src = tmp_path / "dup.npz"
    np.savez(src, points=np.concatenate([pts, pts]), cam2world=cams)
    args = [command, str(src), str(tmp_path / "out.npz")]
    args += ["--report", str(tmp_path / "rep.json")] if command == "align" else []
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def test_align_never_states_an_assumed_height_as_measured(tmp_path: Path) -> None:
    """The reported case: a tabletop-like scene printed "ceiling 2.80 m" for an assumed scale.
    A floor whose scale comes from a camera height says it is assumed, on stdout and stderr,
    and its report holds no ceiling."""
    from tests.support.rooms import floor_seen_from_above

    pts, cams = floor_seen_from_above()
    src, rep = tmp_path / "in.npz", tmp_path / "rep.json"
    np.savez(src, points=pts, cam2world=cams)
    result = runner.invoke(app, ["align", str(src), str(tmp_path / "o.npz"), "--report", str(rep)])
    assert result.exit_code == 0, result.output
    assert "ceiling 2.80" not in result.output and "measured" not in result.stdout
    assert "assumed: no ceiling or wall tops seen" in result.stdout
    assert "warning: scale ASSUMED (camera-height)" in result.output
    report = json.loads(rep.read_text())
    assert report["ceiling_z"] is None and report["scale_source"] == "assumed"
    src2, rep2 = tmp_path / "room.npz", tmp_path / "rep2.json"
    _room_npz(src2)
    result = runner.invoke(
        app, ["align", str(src2), str(tmp_path / "o2.npz"), "--report", str(rep2)]
    )
    assert "measured: floor to ceiling" in result.stdout and "ASSUMED" not in result.output


@pytest.mark.parametrize("command", ["align", "clean", "voxelize"])
def test_files_that_are_no_npz_archive_are_one_line(tmp_path: Path, command: str) -> None:
    """A new user's case: `ytocc clean plain.npy out.npz` (np.save, a bare array) crashed with
    "unexpected TypeError: 'numpy.ndarray' object does not support the context manager
    protocol", exit 1. The siblings: a cut archive and a text file."""
    pts, _, _ = box_room(spacing=0.1)
    np.save(tmp_path / "plain.npy", pts)
    np.savez(tmp_path / "whole.npz", points=pts, labels=np.zeros(len(pts), np.uint8))
    whole = (tmp_path / "whole.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "text.npz").write_text("points\n")
    for name in ("plain.npy", "cut.npz", "text.npz"):
        args = [command, str(tmp_path / name), str(tmp_path / "out.npz")]
        args += ["--report", str(tmp_path / "rep.json")] if command == "align" else []
        assert "not a readable .npz" in _one_line_error(runner.invoke(app, args)), name
    assert not (tmp_path / "out.npz").exists()
