"""The indoor stage: drop outdoor clips before reconstruction, with the reason and the scores.

The backend (``indoor.backend``) comes from :data:`models.scene.SCENE_CLASSIFIERS`
(``places365``, ``synthetic-gt``, ...) and scores each frame; a frame is outdoor when its score
reaches ``frame_outdoor_threshold``. A clip whose share of outdoor frames passes
``clip_outdoor_share`` is ``skipped`` with "outdoor: X of Y frames outdoor" and per-frame
scores in its marker.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task

from models.backends import backend_for
from storage.config import Config
from storage.frames import clip_frames
from storage.layout import DataRoot
from storage.markers import Marker, StageResult, StageSkip
from storage.stages import run_item_stage

STAGE = "indoor"


def decide(scores: np.ndarray, frame_threshold: float, clip_share: float) -> dict[str, Any]:
    """Which frames are outdoor, the outdoor share, and whether the clip is dropped."""
    outdoor = scores >= frame_threshold
    share = float(outdoor.mean()) if outdoor.size else 0.0
    return {
        "frames": int(outdoor.size),
        "outdoor_frames": int(outdoor.sum()),
        "outdoor_share": round(share, 4),
        "drop": share > clip_share,
        "scores": [round(float(s), 3) for s in scores],
    }


def run(root: DataRoot, cfg: Config, clip_id: str, *, force: bool = False) -> Marker:
    """Classify the clip's frames; mark it ok (indoor) or skipped (outdoor) with the scores."""

    def body() -> StageResult:
        backend = backend_for(STAGE, cfg)
        scores, top1 = backend.outdoor_scores(clip_frames(root, clip_id))  # type: ignore[attr-defined]
        verdict = decide(scores, cfg.indoor.frame_outdoor_threshold, cfg.indoor.clip_outdoor_share)
        drop = verdict.pop("drop")
        stats = verdict | ({"top1": top1} if top1 else {}) | {"backend": backend.name}
        if drop:
            reason = f"outdoor: {verdict['outdoor_frames']} of {verdict['frames']} frames outdoor"
            raise StageSkip(reason, **stats)
        return StageResult(stats, backend=backend.name, weights=backend.weights_id)

    return run_item_stage(root, cfg, clip_id, STAGE, body, force=force)


indoor_task = task(name="indoor")(run)
