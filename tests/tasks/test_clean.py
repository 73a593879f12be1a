"""clean: outlier filters relative to the cloud's spacing; the stage writes cloud.npz or fails."""

import numpy as np
import pytest

from models.reconstructors import synthetic
from storage.config import CleanConfig, load_config
from storage.formats import read_cloud, read_recon, write_recon
from storage.markers import StageFailure
from storage.stages import run_item_stage
from tasks import clean, reconstruct
from tasks.clean import clean_cloud
from tests.support.rooms import box_room
from tests.support.truth_room import ready_clip, write_truth_room


def room_with_outliers(scale: float = 1.0, seed: int = 0):
    pts, labels, _ = box_room(spacing=0.04, seed=seed)
    rng = np.random.default_rng(seed)
    junk = rng.uniform(-3, 8, (400, 3))
    cloud = {"points": np.concatenate([pts, junk]) * scale,
             "labels": np.concatenate([labels, np.zeros(400, np.uint8)])}  # fmt: skip
    return cloud, np.r_[np.zeros(len(pts), bool), np.ones(400, bool)]


@pytest.mark.parametrize("scale", [1.0, 0.013, 70.0])
def test_scattered_outliers_go_and_the_room_stays_at_any_scale(scale: float) -> None:
    cloud, is_out = room_with_outliers(scale)
    kept, stats = clean_cloud(cloud, CleanConfig(min_points=100))
    mask = np.isin(cloud["points"][:, 0], kept["points"][:, 0])
    assert (~mask[is_out]).mean() > 0.95  # outliers removed
    # room points kept: the statistical filter trims the rim of the small, isolated table
    # (~1 % of the room); a filter eating into surfaces would lose far more than 2 %
    assert mask[~is_out].mean() > 0.98
    assert len(kept["labels"]) == len(kept["points"]) == stats["kept"]
    assert stats["input"] >= stats["after_radius"] >= stats["after_statistical"] == stats["kept"]


@pytest.mark.parametrize(
    ("points", "reason"),
    [(np.zeros((0, 3)), "empty cloud"), (np.full((500, 3), np.nan), "too few points")],
)
def test_unusable_clouds_fail_with_a_reason(points, reason) -> None:
    with pytest.raises(StageFailure, match=reason):
        clean_cloud({"points": points}, CleanConfig())


@pytest.fixture
def clip(root, tmp_path):
    truth = tmp_path / "truth"
    write_truth_room(truth, 2)  # a 2-frame clip
    cfg = load_config(overrides=[f"truth_dir={truth}", "reconstruct.backend=synthetic-gt",
                                 "clean.min_points=500"])  # fmt: skip
    cid = ready_clip(root, cfg, truth, 2)
    assert reconstruct.run(root, cfg, cid).status == "ok"
    return root, cfg, cid


def test_stage_writes_confident_points_with_their_source_pixels(clip) -> None:
    root, cfg, cid = clip
    marker = clean.run(root, cfg, cid)
    assert marker.status == "ok", marker.reason
    cloud, recon = read_cloud(root.cloud_npz(cid)), read_recon(root.recon_npz(cid))
    assert set(np.unique(cloud["frame"])) == {0, 1}
    w = recon["depth"].shape[2]
    v, u = np.divmod(cloud["pixel"].astype(np.int64), w)
    depth = recon["depth"][cloud["frame"].astype(np.int64), v, u]
    assert (depth > 0).all() and (recon["conf"][cloud["frame"].astype(np.int64), v, u] >= 1.5).all()
    # each point lies on its pixel's ray, at its depth up to the multi-view consensus shift
    cam = np.einsum("nij,nj->ni", np.linalg.inv(recon["cam2world"][cloud["frame"]])[:, :3, :3],
                    cloud["points"] - recon["cam2world"][cloud["frame"], :3, 3])  # fmt: skip
    K = recon["K"][cloud["frame"].astype(np.int64)]
    assert np.allclose(K[:, 0, 0] * cam[:, 0] / cam[:, 2] + K[:, 0, 2], u + 0.5, atol=1e-3)
    assert np.allclose(K[:, 1, 1] * cam[:, 1] / cam[:, 2] + K[:, 1, 2], v + 0.5, atol=1e-3)
    assert np.abs(cam[:, 2] / depth - 1).max() < cfg.clean.consensus_tolerance
    assert 0 < marker.stats["consensus_moved"] <= marker.stats["input"]  # 2 frames: partial overlap


def test_stage_on_all_nan_depth_fails_and_writes_no_cloud(clip) -> None:
    root, cfg, cid = clip
    recon = read_recon(root.recon_npz(cid))
    write_recon(root.recon_npz(cid), recon["K"], recon["cam2world"],
                np.full_like(recon["depth"], np.nan), recon["conf"])  # fmt: skip
    run_item_stage(root, cfg, cid, "reconstruct", lambda: None, force=True)  # as if it wrote it
    marker = clean.run(root, cfg, cid)
    assert marker.status == "failed" and "no pixel with finite depth" in marker.reason
    assert not root.cloud_npz(cid).exists()


def _room_recon(tmp_path, noise: float):
    """A 24-frame pan of the ray-cast room through synthetic-gt (no similarity, no outliers)."""
    from storage.truth import read_truth_frame

    write_truth_room(tmp_path, 24)
    truth = [read_truth_frame(tmp_path, i) for i in range(24)]
    cfg = load_config(overrides=[f"reconstruct.synthetic_gt.depth_noise={noise}",
                                 "reconstruct.synthetic_gt.outlier_frac=0",
                                 "reconstruct.synthetic_gt.similarity=false"]).reconstruct.synthetic_gt  # fmt: skip
    return truth, synthetic.synthetic_recon(truth, (120, 160), cfg, seed=3)


def _depth_error(points, raw, recon, truth) -> np.ndarray:
    """Relative z-depth error of each point against its pixel's true depth."""
    f = raw["frame"].astype(int)
    z = np.einsum("nk,nk->n", points - recon["cam2world"][f, :3, 3], recon["cam2world"][f, :3, 2])
    true = np.stack([t["depth"].reshape(-1) for t in truth])[f, raw["pixel"]]
    return z / true - 1


def test_consensus_averages_per_view_depth_noise_away(tmp_path) -> None:
    truth, recon = _room_recon(tmp_path, noise=0.01)
    raw = clean.recon_points(recon, None, 1.5)
    moved, stats = clean.consensus_points(raw, recon, 1.5, views=4, tolerance=0.05)
    before = _depth_error(raw["points"], raw, recon, truth)
    after = _depth_error(moved, raw, recon, truth)
    assert 0.008 < before.std() < 0.012  # the 1 % noise put in
    # averaging with k ≥ 3 agreeing views cuts the noise to ≤ 1/√(1+k) = 0.5 of it
    assert after.std() < 0.5 * before.std()
    assert abs(after.mean()) < 0.002  # no bias towards or away from the cameras
    assert stats["consensus_median_views"] >= 3
    untouched, _ = clean.consensus_points(raw, recon, 1.5, views=0, tolerance=0.05)
    assert untouched is raw["points"]


def test_consensus_leaves_exact_depth_where_it_is(tmp_path) -> None:
    truth, recon = _room_recon(tmp_path, noise=0.0)
    raw = clean.recon_points(recon, None, 1.5)
    moved, stats = clean.consensus_points(raw, recon, 1.5, views=4, tolerance=0.05)
    # only the nearest-pixel lookup in the other views moves a point (sub-pixel depth changes)
    assert np.median(np.abs(_depth_error(moved, raw, recon, truth))) < 1e-3
    assert stats["consensus_median_shift"] < 1e-3


@pytest.mark.parametrize("case", ["twice", "30 %", "30 % jittered", "20 times"])
def test_duplicated_points_are_cleaned_like_the_cloud_alone(case: str) -> None:
    """Merged clouds: duplicates and near-duplicates change neither the grid nor the verdicts."""
    from tests.models.test_geometry import duplicated

    cloud, is_out = room_with_outliers()
    plain, _ = clean_cloud(cloud, CleanConfig(min_points=100))
    pts, _ = duplicated(cloud["points"], case)
    kept, stats = clean_cloud({"points": pts}, CleanConfig(min_points=100))
    # was: "degenerate cloud: all points coincide" (twice), 49 % of the points kept (30 %)
    share = len(plain["points"]) / len(cloud["points"])
    # the grid follows the spacing, which a duplicated cloud estimates within ~0.1 %: verdicts
    # may flip for a few rim cells, 0.5 % of the points
    assert stats["kept"] / len(pts) == pytest.approx(share, abs=0.005)
    outliers = np.isin(pts[:, 0], cloud["points"][is_out, 0])  # the junk and its copies
    kept_out = np.isin(pts[outliers, 0], kept["points"][:, 0]).mean()
    assert kept_out < 0.05  # as alone: > 95 % of scattered outliers removed
