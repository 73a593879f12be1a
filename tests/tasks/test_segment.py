"""Segment stage: per-frame NYU-11 labels and regions written for every stored frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.segmenters.mask2former import ADE20K_TO_NYU11
from models.segmenters.synthetic import connected_regions
from storage.config import load_config
from storage.formats import read_segment
from storage.layout import DataRoot
from storage.markers import StageFailure
from storage.stages import UpstreamNotDone
from storage.truth import TruthShot
from tasks.segment import check_labels, run
from tests.models.tiny_semantics import mask2former_folder
from tests.tasks.semantic_clips import make_clip, make_truth

torch.set_num_threads(1)
CLIP = "vid-000"
UPSTREAM = ("frames", "indoor", "reconstruct", "clean", "align")


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, 60, 80, 3), np.uint8)


def _truth_labels(n: int) -> np.ndarray:
    """Video-size (120,160) labels: wall everywhere, two chairs, a floor strip, one unlabelled."""
    labels = np.full((n, 120, 160), 3, np.uint8)
    labels[:, 100:, :] = 2
    labels[:, 20:40, 10:40] = 5
    labels[:, 20:40, 100:130] = 5
    labels[:, :10, :10] = 0
    return labels


def test_synthetic_gt_writes_truth_labels_at_stored_size(tmp_path: Path, root: DataRoot):
    truth = make_truth(tmp_path / "tour" / "truth", _truth_labels(6), [TruthShot(0, 6, True, 0)])
    cfg = load_config(overrides=["segment.backend=synthetic-gt"], data=root.root)
    cfg.truth_dir = truth
    make_clip(root, CLIP, _images(2), [1, 4], done=UPSTREAM, scale=0.5, truth=truth)
    m = run(root, cfg, CLIP)
    assert m.status == "ok" and m.backend == "synthetic-gt"
    seg = read_segment(root.segment_path(CLIP, 1))
    assert seg["labels"].shape == (60, 80)
    np.testing.assert_array_equal(seg["labels"], _truth_labels(1)[0, ::2, ::2])
    chairs = np.unique(seg["regions"][seg["labels"] == 5])
    assert len(chairs) == 2  # two separate chairs are two regions
    assert (seg["regions"][seg["labels"] == 0] == -1).all()
    assert m.stats["class_share"]["wall"] > m.stats["class_share"]["chair"] > 0


def test_mask2former_backend_segments_every_frame(tmp_path: Path, root: DataRoot):
    folder = mask2former_folder(tmp_path / "m2f")
    cfg = load_config(
        overrides=[
            f"segment.mask2former_ade.weights={folder}",
            "segment.mask2former_ade.device=cpu",
            "segment.mask2former_ade.batch_size=2",
        ],
        data=root.root,
    )
    make_clip(root, CLIP, _images(3), [0, 3, 6], done=UPSTREAM)
    root.segments_dir(CLIP).mkdir(parents=True)
    (root.segments_dir(CLIP) / "0007.npz").write_bytes(b"stale")
    m = run(root, cfg, CLIP)
    assert m.status == "ok" and m.backend == "mask2former-ade" and m.weights == str(folder)
    files = sorted(p.name for p in root.segments_dir(CLIP).glob("*.npz"))
    assert files == ["0000.npz", "0001.npz", "0002.npz"]
    seg = read_segment(root.segment_path(CLIP, 2))
    assert seg["labels"].shape == seg["regions"].shape == (60, 80)
    assert m.stats["frames"] == 3 and m.stats["regions_per_frame"] >= 1


def test_segmenter_with_a_class_outside_the_table_fails_the_clip(tmp_path: Path, root: DataRoot):
    folder = mask2former_folder(tmp_path / "odd", names=[*ADE20K_TO_NYU11, "spaceship"])
    cfg = load_config(
        overrides=[
            f"segment.mask2former_ade.weights={folder}",
            "segment.mask2former_ade.device=cpu",
        ],
        data=root.root,
    )
    make_clip(root, CLIP, _images(1), [0], done=UPSTREAM)
    m = run(root, cfg, CLIP)
    assert m.status == "failed" and "spaceship" in m.reason
    assert not root.segments_dir(CLIP).exists()


def test_class_ids_beyond_nyu11_are_refused():
    check_labels(np.array([[0, 11]], np.uint8), "x")
    with pytest.raises(StageFailure, match="class id 12 outside 0..11"):
        check_labels(np.array([[0, 12]], np.uint8), "x")


def test_connected_regions_split_each_class_into_components():
    labels = np.array([[1, 1, 0, 1], [2, 2, 0, 1]], np.uint8)
    regions = connected_regions(labels)
    assert regions[0, 0] == regions[0, 1] != regions[0, 3]
    assert regions[1, 0] == regions[1, 1] not in (regions[0, 0], regions[0, 3])
    assert regions[0, 2] == regions[1, 2] == -1


def test_synthetic_gt_without_truth_fails_with_a_reason(root: DataRoot):
    cfg = load_config(overrides=["segment.backend=synthetic-gt"], data=root.root)
    make_clip(root, CLIP, _images(1), [0], done=UPSTREAM)
    m = run(root, cfg, CLIP)
    assert m.status == "failed" and "truth_dir" in m.reason


def test_runs_only_after_frames_the_one_stage_it_reads(root: DataRoot):
    cfg = load_config(overrides=["segment.backend=synthetic-gt"], data=root.root)
    make_clip(root, CLIP, _images(1), [0], done=())
    with pytest.raises(UpstreamNotDone, match="needs frames"):
        run(root, cfg, CLIP)


def test_synthetic_gt_reads_only_the_truth_of_the_clips_video(tmp_path: Path, root: DataRoot):
    """A clip checked against another tour's truth fails (reason in its marker, no labels
    written); truth_dir = the folder of both tours gives it its own tour's labels."""
    mine = make_truth(tmp_path / "tours" / "a", _truth_labels(6), [TruthShot(0, 6, True, 0)])
    walls = np.full((6, 120, 160), 3, np.uint8)
    other = make_truth(tmp_path / "tours" / "b", walls, [TruthShot(0, 6, True, 0)])
    make_clip(root, CLIP, _images(2), [1, 4], done=UPSTREAM, scale=0.5, truth=mine)
    make_clip(root, "other-000", 255 - _images(2), [1, 4], done=UPSTREAM, truth=other)
    cfg = load_config(overrides=["segment.backend=synthetic-gt"], data=root.root)
    cfg.truth_dir = other
    m = run(root, cfg, CLIP)
    assert m.status == "failed" and m.reason.startswith(f"no synthetic truth under {other}")
    assert not root.segment_path(CLIP, 0).exists()
    cfg.truth_dir = tmp_path / "tours"
    assert run(root, cfg, CLIP, force=True).status == "ok"
    seg = read_segment(root.segment_path(CLIP, 1))
    np.testing.assert_array_equal(seg["labels"], _truth_labels(1)[0, ::2, ::2])
