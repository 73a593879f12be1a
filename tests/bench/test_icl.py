"""bench.icl scores a reconstruction against the ICL truth: the true reconstruction scores near
100 whatever its camera path's spread, because truth and reconstruction meet at AbsRel's scale."""

from __future__ import annotations

import numpy as np
import pytest

from bench import icl
from storage.config import Config


@pytest.fixture(scope="module")
def subset() -> dict[str, np.ndarray]:
    return icl.load(icl.SUBSET, icl.frame_ids(icl.SUBSET))


def _truth_as_recon(subset: dict[str, np.ndarray], centre_scale: float) -> dict[str, np.ndarray]:
    """The true depth and rotations, camera centres spread `centre_scale` × about their mean."""
    n = len(subset["depth"])
    poses = subset["cam2world"].copy()
    c = poses[:, :3, 3]
    poses[:, :3, 3] = c.mean(0) + centre_scale * (c - c.mean(0))
    return {
        "K": np.repeat(subset["K"][None], n, axis=0),
        "cam2world": poses,
        "depth": subset["depth"].copy(),
        "conf": np.where(subset["depth"] > 0, 3.0, 0.0).astype(np.float32),
        "registered": np.ones(n, bool),
    }


@pytest.mark.slow  # clean + align + per-frame grids of 8 full frames, twice: ~35 s
def test_a_short_paths_scale_does_not_decide_the_occupancy_score(subset) -> None:
    """A camera path 3 % too long (what SfM gives a 40 cm clip: 1-2 % measured) put the true
    grid a voxel away from the reconstructed one when the scale came from the camera centres
    (true-scale IoU 94 → ~10); with AbsRel's depth scale the score stays (measured 93.9, 93.0).
    Guards: ≥ 85 (the truth itself; the remainder is the rendered depth's voxel-edge effects)
    and within 3 points of the exact path."""
    exact = icl.evaluate(_truth_as_recon(subset, 1.0), subset, Config())
    spread = icl.evaluate(_truth_as_recon(subset, 1.03), subset, Config())
    assert exact["iou_true_scale"] >= 85 and spread["iou_true_scale"] >= 85
    assert abs(exact["iou_true_scale"] - spread["iou_true_scale"]) <= 3
    assert spread["iou_pipeline_scale"] >= 75  # the same truth met at align's scale
    assert exact["depth_abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert exact["occupied_precision"] >= 85 and exact["occupied_recall"] >= 85
