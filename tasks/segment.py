"""The segment stage: per-frame NYU-11 labels and region masks, written to ``segments/{k}.npz``.

The backend (``segment.backend``) comes from :data:`models.segmenters.SEGMENTERS`
(``mask2former-ade``, ``san``, ``synthetic-gt``, ...); class ids outside 0..11 end the clip
with a reason. The stage writes only the segments: the voxelize stage looks each point's label up from
them through the cloud's (frame, pixel) indices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task

from models.backends import backend_for
from storage.config import Config
from storage.formats import CLASS_NAMES, NUM_CLASSES, write_segment
from storage.frames import clip_frames
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult
from storage.stages import run_item_stage

STAGE = "segment"


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


def run(root: DataRoot, cfg: Config, clip_id: str, *, force: bool = False) -> Marker:
    """Segment every stored frame of the clip and write ``segments/{k:04d}.npz``."""

    def body() -> StageResult:
        frames = clip_frames(root, clip_id)
        backend = backend_for(STAGE, cfg)
        results = backend.segment(frames)  # type: ignore[attr-defined]
        for labels, _ in results:
            check_labels(labels, backend.name)
        for k, (labels, regions) in enumerate(results):
            write_segment(root.segment_path(clip_id, k), labels, regions)
        for stale in root.segments_dir(clip_id).glob("*.npz"):
            if stale.stem.isdigit() and int(stale.stem) >= len(results):
                stale.unlink()
        stats = label_stats([r[0] for r in results], [r[1] for r in results])
        return StageResult(
            stats | {"backend": backend.name}, backend=backend.name, weights=backend.weights_id
        )

    return run_item_stage(root, cfg, clip_id, STAGE, body, force=force)


segment_task = task(name="segment")(run)
