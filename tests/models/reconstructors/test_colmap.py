"""The colmap reconstruct backend on real frames (the vendored ICL living-room subset and, when
present, the full 121-frame fixture): registration, trajectory, depth, and its failures."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bench import icl
from models.reconstructors import colmap, patchmatch
from storage.config import ColmapConfig, Config
from storage.markers import StageFailure


@pytest.fixture(scope="module")
def subset() -> dict[str, np.ndarray]:
    return icl.load(icl.SUBSET, icl.frame_ids(icl.SUBSET))


@pytest.fixture(scope="module")
def recon(subset: dict[str, np.ndarray]) -> dict:
    return colmap.reconstruct_images(subset["images"], ColmapConfig(threads=2))


@pytest.mark.slow  # SfM + dense depth of 8 frames: 15 s alone, up to 50 s on the shared cores
def test_registers_every_frame_with_one_camera(recon: dict) -> None:
    assert recon["registered"].all()
    assert recon["stats"]["registered_frames"] == 8
    for step in ("features", "matching", "mapping", "dense"):  # wall and CPU seconds per step
        assert recon["stats"][f"{step}_s"] >= 0 and recon["stats"][f"{step}_cpu_s"] >= 0
    assert recon["stats"]["reprojection_error_px"] < 1.5  # SIFT on sharp frames: ~0.5 px
    # one shared camera; focal within 5 % of the true 525 px (measured ≈ 1 % off)
    assert np.ptp(recon["K"], axis=0).max() == 0
    assert abs(recon["K"][0, 0, 0] / 525 - 1) < 0.05


@pytest.mark.slow  # shares the reconstruction above
def test_trajectory_and_depth_match_the_truth(recon: dict, subset: dict[str, np.ndarray]) -> None:
    """Guards: ATE ≤ 3 % of the path (measured 0.2-1.6 % on 22-frame clips; the target is 2 %,
    8 frames give a shorter, noisier fit) and AbsRel ≤ 0.10 (measured ≈ 0.03; the target)."""
    from models import recon_metrics

    err, _ = recon_metrics.ate(
        recon["cam2world"][:, :3, 3].astype(float), subset["cam2world"][:, :3, 3]
    )
    assert 100 * err / recon_metrics.trajectory_length(subset["cam2world"][:, :3, 3]) < 3.0
    scale = recon_metrics.median_scale(recon["depth"], subset["depth"])
    assert recon_metrics.abs_rel(recon["depth"], subset["depth"], scale) < 0.10
    assert (recon["depth"] > 0).mean() > 0.3
    assert recon["depth"].shape == subset["depth"].shape  # at the stored frame size


def test_dense_is_plane_sweep_without_cuda() -> None:
    expected = "patch-match" if patchmatch.available() else "plane-sweep"
    assert colmap.dense_method(ColmapConfig()) == expected
    assert colmap.dense_method(ColmapConfig(dense="plane-sweep")) == "plane-sweep"


def test_too_few_registered_frames_fail_with_the_count(
    subset: dict[str, np.ndarray], capfd
) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (3, *subset["images"].shape[1:]), np.uint8)
    images = np.concatenate([subset["images"][:5], noise])  # 5 of 8 can register
    with pytest.raises(StageFailure, match=r"registered 5 of 8 frames \(62% < 90%\)"):
        colmap.reconstruct_images(images, ColmapConfig(threads=2))
    # COLMAP's glog lines ("I1130 13:10:00.123 ...", W and E alike) stay off the console: the
    # failure reaches the user as the reason above
    assert not [ln for ln in capfd.readouterr().err.splitlines() if re.match(r"[IWE]\d{8} ", ln)]


def test_unrelated_images_fail_with_a_reason() -> None:
    noise = np.random.default_rng(1).integers(0, 256, (4, 120, 160, 3), np.uint8)
    with pytest.raises(StageFailure, match="COLMAP"):
        colmap.reconstruct_images(noise, ColmapConfig(threads=2))


def test_fill_poses_interpolates_unregistered_frames() -> None:
    from scipy.spatial.transform import Rotation

    poses = np.tile(np.eye(4), (5, 1, 1))
    poses[:, :3, 3] = np.arange(5)[:, None] * [1.0, 0, 0]
    poses[:, :3, :3] = Rotation.from_euler(
        "z", np.arange(5.0)[:, None] * 10, degrees=True
    ).as_matrix()
    registered = np.array([False, True, False, True, True])
    filled = colmap.fill_poses(np.where(registered[:, None, None], poses, np.nan), registered)
    np.testing.assert_allclose(filled[1:], poses[1:], atol=1e-9)  # interior: slerp + lerp exact
    np.testing.assert_allclose(filled[0], poses[1], atol=1e-9)  # before the first: its pose


@pytest.mark.slow
def test_full_fixture_clip_meets_loose_targets() -> None:
    """A 22-frame clip (every 5th frame) of the full fixture through reconstruct, clean, align
    and the occupancy comparison. Guards looser than the issue's targets (bench_reconstruct
    reports the measured values): registered ≥ 95 % (the target), ATE ≤ 3 % (target 2 %),
    AbsRel ≤ 0.10 (target), tilt ≤ 2° (target 1°), IoU at the true scale ≥ 55 (target 60,
    measured ~70: the margin is the run-to-run spread of SfM and RANSAC), all with align's
    default config (its plane distance follows the cloud's noise)."""
    folder = icl.fixture_dir()
    if folder is None:
        pytest.skip(f"needs the full ICL fixture at {icl.SHARED} or $YTOCC_ICL_DIR")
    truth = icl.load(folder, list(range(0, 110, 5)))
    cfg = Config()
    cfg.reconstruct.colmap.threads = 2
    recon = colmap.reconstruct_images(truth["images"], cfg.reconstruct.colmap)
    recon.pop("stats")
    m = icl.evaluate(recon, truth, cfg)
    assert m["registered_frac"] >= 0.95
    assert m["ate_pct"] <= 3.0
    assert m["depth_abs_rel"] <= 0.10
    assert m["tilt_deg"] <= 2.0
    assert m["iou_true_scale"] >= 55
    assert 0 < m["iou_pipeline_scale"] <= 100  # reported beside it (assumed scale here)
