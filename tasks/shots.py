"""shots stage: PySceneDetect cuts → clips (``clips/{clip}/clip.json``), one room per clip.

Clips shorter than ``min_clip_s`` are dropped, longer than ``max_clip_s`` split into equal
parts; clips whose mean content change (the detector's own ``content_val`` per frame) is under
``static_min_motion`` are dropped as static, and a video with no moving clip is skipped.
RealEstate10K sources bring their clip spans and skip detection.
"""

from __future__ import annotations

import shutil

import numpy as np
from prefect import task

from storage.config import Config, ShotsConfig
from storage.formats import ClipInfo, write_clip_info
from storage.ids import clip_id
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult, StageSkip, read_marker
from storage.stages import run_item_stage
from tasks.download import read_source

STAGE = "shots"


def make_detector(cfg: ShotsConfig):  # -> scenedetect.SceneDetector
    """The configured PySceneDetect detector (threshold None: the detector's default)."""
    import scenedetect as sd

    classes = {
        "adaptive": (sd.AdaptiveDetector, "adaptive_threshold"),
        "content": (sd.ContentDetector, "threshold"),
        "threshold": (sd.ThresholdDetector, "threshold"),
        "hash": (sd.HashDetector, "threshold"),
        "histogram": (sd.HistogramDetector, "threshold"),
    }
    cls, arg = classes[cfg.detector]
    return cls(**({arg: cfg.threshold} if cfg.threshold is not None else {}))


def detect_shots(video_path, cfg: ShotsConfig) -> tuple[list[tuple[int, int]], np.ndarray, float]:
    """Shots as [start, end) frame ranges, the per-frame content change, and the fps.

    Content detectors' frame scores are recorded as they are computed (a StatsManager would do
    the same at ~70 % extra cost); other detectors fall back to the StatsManager.
    """
    import scenedetect as sd

    video = sd.open_video(str(video_path), backend="pyav")
    detector = make_detector(cfg)
    scores: dict[int, float] = {}
    score_fn = getattr(detector, "_calculate_frame_score", None)
    stats = None
    if callable(score_fn):

        def recorded(timecode, frame_img):
            score = score_fn(timecode, frame_img)
            scores[timecode.frame_num] = score
            return score

        detector._calculate_frame_score = recorded
    else:
        stats = sd.StatsManager()
    manager = sd.SceneManager(stats_manager=stats)
    manager.add_detector(detector)
    manager.detect_scenes(video)
    n = int(video.frame_number)
    spans = [
        (s.frame_num, e.frame_num) for s, e in manager.get_scene_list(start_in_scene=True)
    ] or [(0, n)]
    if stats is not None:
        scores = {
            f: stats.get_metrics(f, ["content_val"])[0]
            for f in range(n)
            if stats.metrics_exist(f, ["content_val"])
        }
    motion = np.zeros(n, np.float32)
    if scores:
        frames = np.fromiter(scores, int)
        keep = frames < n
        motion[frames[keep]] = np.nan_to_num(np.fromiter(scores.values(), np.float32))[keep]
    return spans, motion, float(video.frame_rate)


def split_spans(
    spans: list[tuple[int, int]], fps: float, cfg: ShotsConfig
) -> list[tuple[int, int]]:
    """Drop spans under min length; cut spans over max length into equal parts."""
    out = []
    for start, end in spans:
        n = end - start
        if n < cfg.min_clip_s * fps:
            continue
        parts = max(1, int(np.ceil(n / (cfg.max_clip_s * fps))))
        edges = np.linspace(start, end, parts + 1).round().astype(int)
        out += [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return out


def clip_motion(motion: np.ndarray, start: int, end: int) -> float:
    """Mean content change inside [start, end), leaving out the cut into its first frame."""
    inner = motion[start + 1 : end]
    return float(inner.mean()) if inner.size else 0.0


def shots(root: DataRoot, video_id: str, cfg: ShotsConfig) -> StageResult:
    """Detect (or read) the clips of one video and write their clip.json files."""
    video = root.video_file(video_id)
    source = read_source(root, video_id)
    probe = read_marker(root.video_marker(video_id, "download")).stats
    if source.clips_s:
        fps = float(probe["fps"])
        spans = [(int(round(a * fps)), int(round(b * fps)) + 1) for a, b in source.clips_s]
        motion, origin = None, "realestate10k"
    else:
        try:
            spans, motion, fps = detect_shots(video, cfg)
        except Exception as e:  # PySceneDetect/PyAV on a file that passed validation
            raise StageFailure(f"shot detection failed ({type(e).__name__}: {e})") from e
        origin = "shots"
    clips = split_spans(spans, fps, cfg)
    static = []
    if motion is not None and cfg.static_min_motion > 0:
        moving = [(a, b) for a, b in clips if clip_motion(motion, a, b) >= cfg.static_min_motion]
        static = [c for c in clips if c not in moving]
        clips = moving
    stats = {"cuts": len(spans) - 1, "clips": len(clips), "static_dropped": len(static), "fps": fps}
    if not clips:
        why = "static video (no motion)" if static else f"no clip ≥ {cfg.min_clip_s} s"
        raise StageSkip(why, **stats)
    for old in root.clip_ids(video_id)[len(clips) :]:
        shutil.rmtree(root.clip_dir(old))  # a re-run with fewer clips leaves none behind
    for shot, (a, b) in enumerate(clips):
        cid = clip_id(video_id, shot)
        write_clip_info(
            root.clip_json(cid), ClipInfo(cid, video_id, shot, a, b, a / fps, b / fps, fps, origin)
        )
    return StageResult(stats | {"spans": clips})


def run(root: DataRoot, cfg: Config, video_id: str, *, force: bool = False) -> Marker:
    """The shots stage of one downloaded video."""
    return run_item_stage(
        root, cfg, video_id, STAGE, lambda: shots(root, video_id, cfg.shots), force=force
    )


shots_task = task(name="shots")(run)
