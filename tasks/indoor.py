"""The indoor stage: drop outdoor clips before reconstruction, with the reason and the scores.

Backends: ``places365`` (the official Places365 classifier; a frame is outdoor when the mean
outdoor flag of its top-k classes reaches the threshold) and ``synthetic-gt`` (the synthetic
tour's shot flags). A clip whose share of outdoor frames passes ``clip_outdoor_share`` is
``skipped`` with "outdoor: X of Y frames outdoor" and per-frame scores in its marker.
Also owns reading a clip's sampled frames and their index, which the segment stage reuses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task

from storage.config import Config
from storage.frames import read_clip_frames, read_frames_index
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult, StageSkip
from storage.stages import run_item_stage
from storage.truth import read_shots, synthetic_truth

STAGE = "indoor"


def set_threads(threads: int) -> None:
    """Cap torch's CPU threads when configured (several clips may run side by side)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def places365_scores(images: np.ndarray, cfg: Config) -> tuple[np.ndarray, list[str]]:
    """Outdoor score (0..1) and top-1 scene name per frame from the Places365 classifier."""
    from models.places365 import classify, load_classifier, outdoor_scores, scene_labels

    pc = cfg.indoor.places365
    set_threads(pc.threads)
    model = load_classifier(pc.weights, pc.arch, pc.device)
    probs = classify(model, images, pc.batch_size)
    labels = scene_labels()
    top1 = [labels.names[i] for i in probs.argmax(axis=1)]
    return outdoor_scores(probs, labels.outdoor, pc.top_k), top1


def truth_scores(video_frames: list[int], cfg: Config) -> np.ndarray:
    """1.0 for frames inside an outdoor shot of the synthetic tour, else 0.0."""
    shots = read_shots(synthetic_truth(cfg, STAGE))
    starts = np.array([s.start_frame for s in shots])
    ends = np.array([s.end_frame for s in shots])
    outdoor = np.array([not s.indoor for s in shots])
    frames = np.asarray(video_frames)
    inside = (frames[:, None] >= starts[None]) & (frames[:, None] < ends[None])
    if not inside.any(axis=1).all():
        lost = frames[~inside.any(axis=1)][:3].tolist()
        raise StageFailure(f"video frames {lost} fall in no shot of the synthetic truth")
    return outdoor[inside.argmax(axis=1)].astype(np.float64)


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
        index = read_frames_index(root, clip_id)
        backend = cfg.indoor.backend
        top1: list[str] = []
        if backend == "places365":
            images = read_clip_frames(root, clip_id, len(index["video_frames"]))
            scores, top1 = places365_scores(images, cfg)
            weights = f"{cfg.indoor.places365.arch}:{cfg.indoor.places365.weights}"
        else:
            scores = truth_scores(index["video_frames"], cfg)
            weights = str(cfg.truth_dir)
        verdict = decide(scores, cfg.indoor.frame_outdoor_threshold, cfg.indoor.clip_outdoor_share)
        drop = verdict.pop("drop")
        stats = verdict | ({"top1": top1} if top1 else {}) | {"backend": backend}
        if drop:
            reason = f"outdoor: {verdict['outdoor_frames']} of {verdict['frames']} frames outdoor"
            raise StageSkip(reason, **stats)
        return StageResult(stats, backend=backend, weights=weights)

    return run_item_stage(root, cfg, clip_id, STAGE, body, force=force)


indoor_task = task(name="indoor")(run)
