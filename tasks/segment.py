"""The segment stage: per-frame NYU-11 labels and region masks, written to ``segments/{k}.npz``.

Backends: ``mask2former-ade`` (default, transformers), ``san`` (open-vocabulary, optional
install) and ``synthetic-gt`` (the synthetic tour's label images for the clip's video frames,
resized to the stored frame size with nearest neighbour; regions = connected components of each
class). The stage writes only the segments: the voxelize stage looks each point's label up from
them through the cloud's (frame, pixel) indices.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from prefect import task
from scipy import ndimage

from storage.config import Config
from storage.formats import CLASS_NAMES, NUM_CLASSES, write_segment
from storage.frames import read_clip_frames, read_frames_index
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult
from storage.stages import run_item_stage
from storage.truth import read_truth_frame, synthetic_truth
from tasks.indoor import set_threads

STAGE = "segment"


def connected_regions(labels: np.ndarray) -> np.ndarray:
    """int32 region ids: the connected components of each class (label 0 → -1, no region)."""
    regions = np.full(labels.shape, -1, np.int32)
    offset = 0
    for c in np.unique(labels[labels > 0]):
        comp, n = ndimage.label(labels == c)
        inside = comp > 0
        regions[inside] = comp[inside] - 1 + offset
        offset += n
    return regions


def truth_segment(labels: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Truth labels (video size) → labels and regions at the stored frame size (H, W)."""
    h, w = size
    resized = cv2.resize(labels.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    return resized, connected_regions(resized)


def check_labels(labels: np.ndarray, backend: str) -> None:
    """Refuse a class id outside 0..11 with a one-line reason (a broken table or model)."""
    top = int(labels.max(initial=0))
    if top > NUM_CLASSES:
        raise StageFailure(f"segmenter {backend} returned class id {top} outside 0..{NUM_CLASSES}")


def label_stats(labels: list[np.ndarray], regions: list[np.ndarray]) -> dict[str, Any]:
    """Share of pixels per class, unlabelled share, and regions per frame (for the marker)."""
    counts = sum(np.bincount(lab.ravel(), minlength=NUM_CLASSES + 1) for lab in labels)
    total = max(int(counts.sum()), 1)
    return {
        "frames": len(labels),
        "unlabelled_share": round(float(counts[0]) / total, 4),
        "class_share": {
            n: round(float(counts[i + 1]) / total, 4) for i, n in enumerate(CLASS_NAMES)
        },
        "regions_per_frame": round(float(np.mean([len(np.unique(r[r >= 0])) for r in regions])), 1),
    }


def _segment_truth(root: DataRoot, cfg: Config, index: dict[str, Any]) -> list[tuple]:
    folder = synthetic_truth(cfg, STAGE)
    size = (int(index["height"]), int(index["width"]))
    return [
        truth_segment(read_truth_frame(folder, int(i))["labels"], size)
        for i in index["video_frames"]
    ]


def _segment_model(root: DataRoot, cfg: Config, clip_id: str, count: int) -> list[tuple]:
    from models.segmenters import load_segmenter
    from models.segmenters.queries import ClassTableError

    sc = cfg.segment.backend_params()
    set_threads(sc.threads)
    try:
        model = load_segmenter(cfg.segment.backend, sc.weights, sc.device)
    except ClassTableError as e:
        raise StageFailure(str(e)) from e
    images = read_clip_frames(root, clip_id, count)
    out = []
    for i in range(0, count, sc.batch_size):
        labels, regions = model.segment(images[i : i + sc.batch_size])
        out += list(zip(labels, regions, strict=True))
    return out


def run(root: DataRoot, cfg: Config, clip_id: str, *, force: bool = False) -> Marker:
    """Segment every stored frame of the clip and write ``segments/{k:04d}.npz``."""

    def body() -> StageResult:
        index = read_frames_index(root, clip_id)
        count = len(index["video_frames"])
        backend = cfg.segment.backend
        if backend == "synthetic-gt":
            results = _segment_truth(root, cfg, index)
            weights = str(cfg.truth_dir)
        else:
            results = _segment_model(root, cfg, clip_id, count)
            weights = cfg.segment.backend_params().weights
        for labels, _ in results:
            check_labels(labels, backend)
        for k, (labels, regions) in enumerate(results):
            write_segment(root.segment_path(clip_id, k), labels, regions)
        for stale in root.segments_dir(clip_id).glob("*.npz"):
            if stale.stem.isdigit() and int(stale.stem) >= count:
                stale.unlink()
        stats = label_stats([r[0] for r in results], [r[1] for r in results])
        return StageResult(stats | {"backend": backend}, backend=backend, weights=weights)

    return run_item_stage(root, cfg, clip_id, STAGE, body, force=force)


segment_task = task(name="segment")(run)
