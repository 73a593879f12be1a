"""tasks/reconstruct.py: synthetic-gt similarity, degenerate clips, dust3r backend end to end."""

from __future__ import annotations

import io

import numpy as np
import pytest

from models.reconstructors import synthetic
from storage.atomic import write_json
from storage.config import load_config
from storage.formats import read_recon
from storage.stages import run_item_stage
from storage.truth import read_meta, read_truth_frame, write_meta, write_truth_frame
from tasks import reconstruct
from tests.support.truth_room import ready_clip, write_truth_room

N = 4


@pytest.fixture
def room(root, tmp_path):
    truth = tmp_path / "truth"
    write_truth_room(truth, N)
    cfg = load_config(overrides=[f"truth_dir={truth}", "reconstruct.backend=synthetic-gt"])
    return root, cfg, truth, ready_clip(root, cfg, truth, N)


def test_synthetic_gt_similarity_maps_truth_to_recon(room):
    root, cfg, truth, cid = room
    marker = reconstruct.run(root, cfg, cid)
    assert marker.status == "ok" and marker.backend == "synthetic-gt", marker.reason
    rec = read_recon(root.recon_npz(cid))
    sim = rec["similarity"]
    s = np.cbrt(np.linalg.det(sim[:3, :3]))
    assert not np.allclose(sim, np.eye(4))  # a real random similarity was applied
    for k in range(N):
        t = read_truth_frame(truth, k)
        np.testing.assert_allclose(
            rec["cam2world"][k, :3, 3], sim[:3, :3] @ t["cam2world"][:3, 3] + sim[:3, 3], atol=1e-4
        )
        np.testing.assert_allclose(
            rec["cam2world"][k, :3, :3], sim[:3, :3] / s @ t["cam2world"][:3, :3], atol=1e-5
        )
        np.testing.assert_allclose(rec["K"][k], t["K"], atol=1e-5)  # stored size = truth size
        ratio = rec["depth"][k][t["depth"] > 0] / t["depth"][t["depth"] > 0] / s
        assert abs(np.median(ratio) - 1) < 0.01  # noise and outliers, but the scale is s


def test_synthetic_gt_is_seeded_per_clip(room):
    root, cfg, _, cid = room
    reconstruct.run(root, cfg, cid)
    first = read_recon(root.recon_npz(cid))["similarity"]
    reconstruct.run(root, cfg, cid, force=True)
    np.testing.assert_array_equal(first, read_recon(root.recon_npz(cid))["similarity"])
    other = synthetic.random_similarity(
        synthetic.clip_seed(cfg.reconstruct.synthetic_gt.seed, "x-001")
    )
    assert not np.allclose(first, other)


def test_frozen_camera_fails_as_collapsed_trajectory(room):
    root, cfg, truth, cid = room
    t0 = read_truth_frame(truth, 0)
    for k in range(1, N):  # every frame seen from the first camera: no parallax
        write_truth_frame(truth, k, t0["K"], t0["cam2world"], t0["depth"], t0["labels"])
    marker = reconstruct.run(root, cfg, cid)
    assert marker.status == "failed" and "collapsed trajectory" in marker.reason
    assert not root.recon_npz(cid).exists()


def test_single_frame_clip_fails_with_reason(room):
    root, cfg, _, cid = room
    write_json(
        root.frames_index(cid), {"video_frames": [0], "width": 160, "height": 120, "scale": 1.0}
    )
    run_item_stage(root, cfg, cid, "frames", lambda: None, force=True)  # a frames run wrote it
    marker = reconstruct.run(root, cfg, cid)
    assert marker.status == "failed" and "need ≥ 2" in marker.reason
    assert not root.recon_npz(cid).exists()


def test_dust3r_backend_with_random_weights_fails_as_degenerate(room, tmp_path):
    import argparse

    import torch

    from models import dust3r
    from tests.models.test_dust3r import TINY

    root, _, truth, cid = room
    torch.manual_seed(0)
    net = getattr(dust3r.backend()["model"], dust3r.MODEL_CLASS)(**dust3r.parse_model_args(TINY))
    torch.save(
        {"args": argparse.Namespace(model=TINY), "model": net.state_dict()}, tmp_path / "tiny.pth"
    )
    cfg = load_config(
        overrides=[
            f"truth_dir={truth}",
            f"reconstruct.dust3r.weights={tmp_path}/tiny.pth",
            "reconstruct.dust3r.image_size=160",
            "reconstruct.dust3r.niter=3",
            "reconstruct.dust3r.device=cpu",
        ]
    )
    marker = reconstruct.run(root, cfg, cid)
    assert marker.status == "failed" and "degenerate reconstruction" in marker.reason
    assert not root.recon_npz(cid).exists()


def _other_house(folder, shift: float = 10.0):
    """Another tour's truth: the room's frames with every camera `shift` m along x."""
    write_truth_room(folder, N)
    for k in range(N):
        t = read_truth_frame(folder, k)
        pose = t["cam2world"].copy()
        pose[0, 3] += shift
        write_truth_frame(folder, k, t["K"], pose, t["depth"], t["labels"])
    return folder


def _synthetic(truth_dir) -> object:
    return load_config(overrides=[f"truth_dir={truth_dir}", "reconstruct.backend=synthetic-gt"])


def test_a_clip_rerun_with_another_tours_truth_fails_and_the_tours_folder_picks_its_own(
    root, tmp_path
):
    """The reported case: two tours in one data root, house A's clip re-run with truth_dir of
    house B must fail (reason in the marker, A's recon kept); truth_dir = the folder of both
    tours hands each clip its own video's truth."""
    tours = tmp_path / "tours"
    a = tours / "house-a" / "truth"
    write_truth_room(a, N)
    cid_a = ready_clip(root, _synthetic(a.parent), a, N)
    b = _other_house(tours / "house-b" / "truth")
    cid_b = ready_clip(root, _synthetic(b.parent), b, N, video="other", seed=1)
    assert reconstruct.run(root, _synthetic(a.parent), cid_a).status == "ok"
    before = root.recon_npz(cid_a).read_bytes()

    m = reconstruct.run(root, _synthetic(b.parent), cid_a, force=True)
    assert m.status == "failed"
    assert m.reason == (
        f"no synthetic truth under {b.parent} is of video {root.relative(root.video_file('room'))}"
    )
    assert root.recon_npz(cid_a).read_bytes() == before  # nothing of A overwritten

    both = _synthetic(tours)
    assert reconstruct.run(root, both, cid_a, force=True).status == "ok"
    with np.load(root.recon_npz(cid_a)) as now, np.load(io.BytesIO(before)) as was:
        np.testing.assert_array_equal(now["cam2world"], was["cam2world"])  # A's truth, A's seed
    assert reconstruct.run(root, both, cid_b).status == "ok"
    rec_b = read_recon(root.recon_npz(cid_b))
    sim = rec_b["similarity"]
    t = read_truth_frame(b, 0)["cam2world"]
    np.testing.assert_allclose(rec_b["cam2world"][0, :3, 3], sim[:3, :3] @ t[:3, 3] + sim[:3, 3],
                               atol=1e-4)  # fmt: skip  # B's clip got B's (shifted) cameras


def test_a_truth_made_before_the_binding_fails_asking_to_resynth(room):
    root, cfg, truth, cid = room
    meta = read_meta(truth)
    del meta["video_sha256"]
    write_meta(truth, meta)
    m = reconstruct.run(root, cfg, cid)
    assert m.status == "failed" and "records no video_sha256" in m.reason
    assert "re-run `ytocc synth`" in m.reason and not root.recon_npz(cid).exists()
