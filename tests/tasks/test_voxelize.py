"""voxelize: per-frame grids from the aligned cloud; bad segment labels fail cleanly."""

import numpy as np
import pytest

from storage.atomic import write_npz
from storage.config import VoxelConfig, load_config
from storage.formats import FREE, UNKNOWN, read_sample
from storage.stages import run_item_stage
from tasks import align, clean, reconstruct, segment, voxelize
from tasks.voxelize import frame_grid
from tests.support.rooms import box_room, camera_pose


def test_frame_grid_has_floor_free_space_and_unknown_behind() -> None:
    pts, labels, _ = box_room(spacing=0.02)
    pose = camera_pose(np.array([1.0, 2.0, 1.5]), 0.0, -0.3)  # looking along +x, slightly down
    K = np.array([[60.0, 0, 40], [0, 60.0, 30], [0, 0, 1]])
    cam = (pts - pose[:3, 3]) @ pose[:3, :3]  # z-depth of the nearest surface per pixel
    u = np.floor(K[0, 0] * cam[:, 0] / cam[:, 2] + K[0, 2]).astype(int)
    v = np.floor(K[1, 1] * cam[:, 1] / cam[:, 2] + K[1, 2]).astype(int)
    ok = (cam[:, 2] > 0) & (u >= 0) & (u < 80) & (v >= 0) & (v < 60)
    depth = np.full(60 * 80, np.inf)
    np.minimum.at(depth, v[ok] * 80 + u[ok], cam[ok, 2])
    depth = np.where(np.isfinite(depth), depth, 0).reshape(60, 80)
    target, origin = frame_grid(pts, labels, depth, K, pose, VoxelConfig())
    assert target.shape == (60, 60, 36) and np.isclose(origin[2], -0.04)
    assert (target[:, :, 0] == 2).sum() > 50  # floor (NYU id 2) in the bottom layer
    assert (target[:, :, 1:] == 2).sum() == 0
    i, j, k = np.floor((pose[:3, 3] + 1.5 * pose[:3, 2] - origin) / 0.08).astype(int)
    assert min(i, j, k) >= 0 and target[i, j, k] == FREE  # 1.5 m along the view ray
    assert (target == UNKNOWN).sum() > (target == FREE).sum() > 1000


@pytest.fixture
def aligned_clip(root, tmp_path):
    from tests.support.truth_room import ready_clip, write_truth_room

    truth = tmp_path / "truth"
    write_truth_room(truth, 2)
    cfg = load_config(overrides=[f"truth_dir={truth}", "reconstruct.backend=synthetic-gt",
                                 "segment.backend=synthetic-gt", "clean.min_points=500"])  # fmt: skip
    cid = ready_clip(root, cfg, truth, 2)
    assert [m.run(root, cfg, cid).status for m in (reconstruct, clean, align, segment)] == [
        "ok"
    ] * 4
    return root, cfg, cid


def test_two_frame_clip_gives_two_samples(aligned_clip) -> None:
    root, cfg, cid = aligned_clip
    marker = voxelize.run(root, cfg, cid)
    assert marker.status == "ok", marker.reason
    for k in (0, 1):
        t = read_sample(root.occ_path(cid, k))["target"]
        assert ((t > 0) & (t < UNKNOWN)).any() and (t == FREE).any()


def test_labels_outside_the_classes_fail_and_write_no_sample(aligned_clip) -> None:
    root, cfg, cid = aligned_clip
    path = root.segment_path(cid, 1)
    with np.load(path) as z:
        labels, regions = z["labels"].copy(), z["regions"]
    labels[0, 0] = 40
    write_npz(path, labels=labels, regions=regions)  # bypass the checked writer: a bad file
    run_item_stage(root, cfg, cid, "segment", lambda: None, force=True)  # as if it wrote it
    marker = voxelize.run(root, cfg, cid)
    assert marker.status == "failed" and "ids > 11" in marker.reason
    assert not list(root.occ_dir(cid).glob("*.npz"))


def test_geometry_only_samples_mark_occupied_254_and_a_segmenter_upgrades_them(
    root, tmp_path
) -> None:
    """segment.backend none → occupied voxels 254 (no class); switching to a real segmenter
    re-runs only segment and voxelize, and the samples get classes."""
    from storage.formats import OCCUPIED
    from storage.markers import read_marker
    from tests.support.truth_room import ready_clip, write_truth_room

    truth = tmp_path / "truth"
    write_truth_room(truth, 2)
    base = [f"truth_dir={truth}", "reconstruct.backend=synthetic-gt", "clean.min_points=500"]
    cfg = load_config(overrides=[*base, "indoor.backend=none", "segment.backend=none"])
    cid = ready_clip(root, cfg, truth, 2)
    stages = (reconstruct, clean, align, segment, voxelize)
    assert [m.run(root, cfg, cid).status for m in stages] == ["ok"] * 5
    assert read_marker(root.clip_marker(cid, "segment")).backend == "none"
    assert read_marker(root.clip_marker(cid, "voxelize")).stats["geometry_only"] is True
    t = read_sample(root.occ_path(cid, 0))["target"]
    assert (t == OCCUPIED).sum() > 100 and (t == FREE).any()
    assert not ((t > 0) & (t <= 11)).any()  # no class anywhere
    before = {s.STAGE: root.clip_marker(cid, s.STAGE).stat().st_mtime_ns for s in stages}

    upgraded = load_config(overrides=[*base, "indoor.backend=none", "segment.backend=synthetic-gt"])
    assert [m.run(root, upgraded, cid).status for m in stages] == ["ok"] * 5
    after = {s.STAGE: root.clip_marker(cid, s.STAGE).stat().st_mtime_ns for s in stages}
    rerun = {s for s in before if before[s] != after[s]}
    assert rerun == {"segment", "voxelize"}
    t = read_sample(root.occ_path(cid, 0))["target"]
    assert not (t == OCCUPIED).any() and ((t > 0) & (t <= 11)).any()


def test_a_damaged_alignment_fails_the_clip_with_a_reason(aligned_clip) -> None:
    """Every field's check: tests/storage/test_formats.py::test_read_align_names_the_bad_field."""
    from storage.atomic import read_json, write_json

    root, cfg, cid = aligned_clip
    write_json(root.align_json(cid), read_json(root.align_json(cid)) | {"scale": float("nan")})
    run_item_stage(root, cfg, cid, "align", lambda: None, force=True)  # as if align wrote it
    marker = voxelize.run(root, cfg, cid, force=True)
    assert marker.status == "failed" and "align.json: scale must be finite" in marker.reason
    assert not list(root.occ_dir(cid).glob("*.npz"))


@pytest.mark.parametrize("case", ["twice", "30 %", "30 % jittered"])
def test_a_merged_cloud_voxelizes_like_the_cloud_alone(aligned_clip, case: str) -> None:
    """voxelize.min_points counted a point duplicated in a merge twice: a voxel holding one
    point and its copy was occupied. Each duplicate, exact or near, now counts once."""
    from storage.formats import read_cloud, write_cloud
    from tests.models.test_geometry import duplicated

    root, cfg, cid = aligned_clip
    cfg.voxelize.min_points = 2  # the default: one point and its copy used to reach it
    assert voxelize.run(root, cfg, cid, force=True).status == "ok"
    alone = [read_sample(root.occ_path(cid, k))["target"] for k in (0, 1)]
    cloud = read_cloud(root.cloud_npz(cid))
    pts, _ = duplicated(cloud["points"].astype(np.float64), case)
    # the copies keep their source pixel (and so their label), as a merge of the same frames does
    take = np.r_[np.arange(len(cloud["points"])), _copied_rows(cloud["points"], pts)]
    merged = {k: v[take] for k, v in cloud.items()} | {"points": pts.astype(np.float32)}
    write_cloud(root.cloud_npz(cid), **merged)
    for stage in ("clean", "align", "segment"):  # as if clean had written the merged cloud
        run_item_stage(root, cfg, cid, stage, lambda: None, force=True)
    assert voxelize.run(root, cfg, cid, force=True).status == "ok"
    for k in (0, 1):
        assert np.array_equal(read_sample(root.occ_path(cid, k))["target"], alone[k])


def _copied_rows(original: np.ndarray, merged: np.ndarray) -> np.ndarray:
    """Index into `original` of each row `merged` appends after it (its nearest original)."""
    from scipy.spatial import cKDTree

    return cKDTree(original).query(merged[len(original) :])[1]
