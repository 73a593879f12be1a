"""Indoor stage: outdoor clips are skipped with a reason and scores; indoor clips pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from storage.config import load_config
from storage.layout import DataRoot
from storage.markers import read_marker
from storage.stages import UpstreamNotDone
from storage.truth import TruthShot
from tasks.indoor import decide, run
from tests.models.tiny_semantics import places365_checkpoint, scene_bias
from tests.tasks.semantic_clips import make_clip, make_truth

torch.set_num_threads(1)
CLIP = "vid-000"


def _images(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, 120, 160, 3), np.uint8)


def _places_cfg(tmp_path: Path, root: DataRoot, outdoor: bool):
    folder = tmp_path / f"places-{outdoor}"
    places365_checkpoint(folder, "resnet18", favour=scene_bias(outdoor))
    return load_config(
        overrides=[
            f"indoor.places365.weights={folder}",
            "indoor.places365.device=cpu",
            "indoor.places365.batch_size=2",
        ],
        data=root.root,
    )


def test_all_outdoor_clip_is_skipped_with_reason_and_scores(tmp_path: Path, root: DataRoot):
    make_clip(root, CLIP, _images(), [0, 5, 10])
    m = run(root, _places_cfg(tmp_path, root, outdoor=True), CLIP)
    assert m.status == "skipped"
    assert m.reason == "outdoor: 3 of 3 frames outdoor"
    assert m.stats["scores"] == [1.0, 1.0, 1.0] and m.stats["outdoor_share"] == 1.0
    assert read_marker(root.marker(CLIP, "indoor")).status == "skipped"


def test_indoor_clip_passes_with_backend_weights_and_top_scene(tmp_path: Path, root: DataRoot):
    make_clip(root, CLIP, _images(), [0, 5, 10])
    cfg = _places_cfg(tmp_path, root, outdoor=False)
    m = run(root, cfg, CLIP)
    assert m.status == "ok" and m.backend == "places365"
    assert m.weights == f"resnet18:{cfg.indoor.places365.weights}"
    assert m.stats["outdoor_frames"] == 0 and len(m.stats["top1"]) == 3


def test_missing_weights_fail_the_clip_with_the_download_hint(tmp_path: Path, root: DataRoot):
    from models.weights import WeightsNotFound

    make_clip(root, CLIP, _images(), [0, 5, 10])
    cfg = load_config(overrides=[f"indoor.places365.weights={tmp_path / 'none'}"], data=root.root)
    with pytest.raises(WeightsNotFound):
        run(root, cfg, CLIP)
    m = read_marker(root.marker(CLIP, "indoor"))
    assert m.status == "failed" and "places2.csail.mit.edu" in m.reason


def test_share_threshold_decides_the_clip():
    scores = np.array([0.0, 0.6, 0.5, 0.1])
    assert decide(scores, 0.5, 0.5) == {
        "frames": 4, "outdoor_frames": 2, "outdoor_share": 0.5, "drop": False,
        "scores": [0.0, 0.6, 0.5, 0.1],
    }  # fmt: skip
    assert decide(scores, 0.5, 0.4)["drop"] is True


def test_synthetic_gt_reads_the_tour_shot_flags(tmp_path: Path, root: DataRoot):
    labels = np.zeros((20, 6, 8), np.uint8)
    truth = make_truth(tmp_path / "tour" / "truth", labels,
                       [TruthShot(0, 10, True, 0), TruthShot(10, 20, False, -1)])  # fmt: skip
    cfg = load_config(overrides=["indoor.backend=synthetic-gt"], data=root.root)
    cfg.truth_dir = truth.parent
    make_clip(root, "vid-001", _images(2), [2, 7], truth=truth)
    make_clip(root, "vid-002", _images(2), [12, 17], truth=truth)
    assert run(root, cfg, "vid-001").status == "ok"
    out = run(root, cfg, "vid-002")
    assert out.status == "skipped" and out.reason == "outdoor: 2 of 2 frames outdoor"


def test_a_missing_frame_file_makes_frames_not_done_so_indoor_waits(tmp_path: Path, root: DataRoot):
    make_clip(root, CLIP, _images(), [0, 5, 10])
    root.frame_path(CLIP, 1).unlink()
    with pytest.raises(UpstreamNotDone, match="0001.jpg is missing"):
        run(root, _places_cfg(tmp_path, root, outdoor=False), CLIP)


def test_runs_only_after_frames(tmp_path: Path, root: DataRoot):
    make_clip(root, CLIP, _images(), [0, 5, 10], done=())
    with pytest.raises(UpstreamNotDone):
        run(root, _places_cfg(tmp_path, root, outdoor=False), CLIP)


def test_synthetic_gt_reads_only_the_truth_of_the_clips_video(tmp_path: Path, root: DataRoot):
    """Two tours, one data root: a clip checked against the other tour's truth fails (reason in
    its marker); truth_dir = the folder of both tours gives each clip its own tour's flags."""
    labels = np.zeros((20, 6, 8), np.uint8)
    house = make_truth(tmp_path / "tours" / "house" / "truth", labels, [TruthShot(0, 20, True, 0)])
    yard = make_truth(tmp_path / "tours" / "yard" / "truth", labels, [TruthShot(0, 20, False, -1)])
    make_clip(root, "house-001", _images(2), [2, 7], truth=house)
    make_clip(root, "yard-001", 255 - _images(2), [2, 7], truth=yard)  # other video bytes
    cfg = load_config(overrides=["indoor.backend=synthetic-gt"], data=root.root)
    cfg.truth_dir = yard.parent
    m = run(root, cfg, "house-001")
    assert m.status == "failed" and m.reason.startswith(f"no synthetic truth under {yard.parent}")
    cfg.truth_dir = tmp_path / "tours"
    assert run(root, cfg, "house-001", force=True).status == "ok"
    assert run(root, cfg, "yard-001").reason == "outdoor: 2 of 2 frames outdoor"
