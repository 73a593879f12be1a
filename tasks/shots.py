"""shots stage: PySceneDetect cuts → clips (``clips/{clip}/clip.json``), one room per clip.

One decoding pass (display orientation, ``tasks.decode``) runs the configured PySceneDetect
detector for hard cuts (``min_shot_frames`` apart, so a shot of a few frames is its own shot),
optionally ThresholdDetector for fades through black (``fade_threshold``), and records each
frame's content score and thumbnail. The frames of gradual transitions (fades, dissolves,
cross-fades, wipes: found on the thumbnails by ``tasks.transitions``) are taken out of every
shot. Clips shorter than ``min_clip_s`` are dropped, longer than ``max_clip_s`` split into
equal parts; a clip whose first and last second show two places is dropped (coherence), and
clips whose mean content change (the detector's own ``content_val`` per frame) is under
``static_min_motion`` are dropped as static; a video with no clip left is skipped. Every
dropped span is listed with its reason in the marker (``notes``), every transition too.
RealEstate10K sources bring their clip spans and skip detection; their spans are checked
against the decoded length (clipped with a warning when they run over, failed when wholly
outside).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np
from prefect import task

from storage.config import Config, ShotsConfig
from storage.formats import ClipInfo, write_clip_info
from storage.ids import clip_id
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult, StageSkip, read_marker
from storage.stages import run_item_stage
from tasks.decode import rotation_of, to_display
from tasks.sources import read_source
from tasks.transitions import THUMB_SIZE, gradual_transitions, scene_distance, thumbnail

STAGE = "shots"
log = logging.getLogger("ytocc.shots")
logging.getLogger("pyscenedetect").setLevel(logging.WARNING)  # its "Detecting scenes..." per video


def make_detector(cfg: ShotsConfig):  # -> scenedetect.SceneDetector
    """The configured PySceneDetect cut detector (threshold None: the detector's default)."""
    import scenedetect as sd

    classes = {
        "adaptive": (sd.AdaptiveDetector, "adaptive_threshold"),
        "content": (sd.ContentDetector, "threshold"),
        "threshold": (sd.ThresholdDetector, "threshold"),
        "hash": (sd.HashDetector, "threshold"),
        "histogram": (sd.HistogramDetector, "threshold"),
    }
    cls, arg = classes[cfg.detector]
    kwargs = {arg: cfg.threshold} if cfg.threshold is not None else {}
    return cls(min_scene_len=cfg.min_shot_frames, **kwargs)


def _display_stream(path):  # -> scenedetect.backends.pyav.VideoStreamAv
    """PySceneDetect's PyAV stream of `path`, its frames turned to display orientation."""
    from scenedetect.backends.pyav import VideoStreamAv

    class DisplayStreamAv(VideoStreamAv):
        def read(self, decode: bool = True):
            image = super().read(decode)
            if decode and image is not False and self._frame is not None:
                return to_display(image, rotation_of(self._frame))
            return image

    return DisplayStreamAv(str(path))


@dataclass
class Detection:
    """What one pass of PySceneDetect over a video leaves: shots, per-frame signals, fps."""

    spans: list[tuple[int, int]]  # [start, end) frame ranges between cuts
    motion: np.ndarray  # (n,) content change into each frame (PySceneDetect's content_val)
    thumbs: np.ndarray  # (n, 9, 16, 3) uint8 thumbnails (tasks.transitions.thumbnail)
    fps: float


def detect_shots(video_path, cfg: ShotsConfig) -> tuple[list[tuple[int, int]], np.ndarray, float]:
    """Shots between cuts as [start, end) frame ranges, the per-frame content change, the fps."""
    found = scan_video(video_path, cfg)
    return found.spans, found.motion, found.fps


def scan_video(video_path, cfg: ShotsConfig) -> Detection:
    """Cuts (the configured detector; ThresholdDetector too when `fade_threshold`) in one pass.

    Each frame's thumbnail and content score are recorded as the detector sees the frame (a
    StatsManager would do the same at ~70 % extra cost); detectors without a content score fall
    back to the StatsManager.
    """
    import scenedetect as sd

    video = _display_stream(video_path)
    detector = make_detector(cfg)
    scores: dict[int, float] = {}
    thumbs: dict[int, np.ndarray] = {}
    score_fn = getattr(detector, "_calculate_frame_score", None)
    process = detector.process_frame
    stats = None
    if callable(score_fn):

        def scored(timecode, frame_img):
            score = score_fn(timecode, frame_img)
            scores[timecode.frame_num] = score
            return score

        detector._calculate_frame_score = scored
    else:
        stats = sd.StatsManager()

    def recorded(timecode, frame_img):
        thumbs[timecode.frame_num] = thumbnail(frame_img)
        return process(timecode, frame_img)

    detector.process_frame = recorded
    manager = sd.SceneManager(stats_manager=stats)
    manager.add_detector(detector)
    if cfg.fade_threshold > 0 and cfg.detector != "threshold":
        manager.add_detector(
            sd.ThresholdDetector(threshold=cfg.fade_threshold, min_scene_len=cfg.min_shot_frames)
        )
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
    return Detection(
        spans, _per_frame(scores, n), _thumbs_per_frame(thumbs, n), float(video.frame_rate)
    )


def _per_frame(scores: dict[int, float], n: int) -> np.ndarray:
    motion = np.zeros(n, np.float32)
    if scores:
        frames = np.fromiter(scores, int)
        keep = frames < n
        motion[frames[keep]] = np.nan_to_num(np.fromiter(scores.values(), np.float32))[keep]
    return motion


def _thumbs_per_frame(thumbs: dict[int, np.ndarray], n: int) -> np.ndarray:
    """(n, 9, 16, 3) thumbnails by frame number; a frame never seen repeats the one before."""
    out = np.zeros((n, THUMB_SIZE[1], THUMB_SIZE[0], 3), np.uint8)
    if not thumbs:
        return out
    frames = np.fromiter(thumbs, int)
    keep = (frames >= 0) & (frames < n)
    out[frames[keep]] = np.stack(list(thumbs.values()))[keep]
    seen = np.zeros(n, bool)
    seen[frames[keep]] = True
    return out[np.maximum.accumulate(np.where(seen, np.arange(n), 0))]


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


def remove_ranges(
    spans: list[tuple[int, int]], ranges: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """`spans` with the frames of `ranges` taken out (a span may fall apart into pieces)."""
    out = []
    for a, b in spans:
        pieces = [(a, b)]
        for s, e in ranges:
            pieces = [p for x, y in pieces for p in ((x, min(y, s)), (max(x, e), y)) if p[0] < p[1]]
        out += pieces
    return out


def incoherent(
    spans: list[tuple[int, int]], thumbs: np.ndarray, fps: float, cfg: ShotsConfig
) -> list[tuple[tuple[int, int], str]]:
    """The spans whose first and last second look like two places, each with its reason."""
    out = []
    for a, b in spans:
        k = max(1, min(int(round(fps)), (b - a) // 4))
        d = scene_distance(thumbs[a : a + k], thumbs[b - k : b])
        if d > cfg.coherence_max_distance:
            out.append(((a, b), f"dropped: first and last second show two scenes "
                                f"(palette distance {d:.2f} > {cfg.coherence_max_distance})"))  # fmt: skip
    return out


def clip_motion(motion: np.ndarray, start: int, end: int) -> float:
    """Mean content change inside [start, end), leaving out the cut into its first frame."""
    inner = motion[start + 1 : end]
    return float(inner.mean()) if inner.size else 0.0


def external_spans(
    clips_s: tuple[tuple[float, float], ...], probe: dict[str, Any]
) -> tuple[list[tuple[int, int]], list[str]]:
    """RealEstate10K spans (s) as frame ranges within the decoded video, with warnings.

    A span running past the decoded end is clipped to it (a warning says so); one wholly
    outside is left out (a warning says so too).
    """
    fps, length = float(probe["fps"]), float(probe["duration_s"])
    n = int(probe.get("num_frames") or round(length * fps))
    spans, warnings = [], []
    for a, b in clips_s:
        first, end = int(round(a * fps)), int(round(b * fps)) + 1
        if first >= n or end <= 0:
            warnings.append(f"span {a:.2f}-{b:.2f} s lies outside the video (0-{length:.2f} s)")
            continue
        if end > n or first < 0:
            warnings.append(f"span {a:.2f}-{b:.2f} s clipped to the video (0-{length:.2f} s)")
        spans.append((max(first, 0), min(end, n)))
    return spans, warnings


def shots(root: DataRoot, video_id: str, cfg: ShotsConfig) -> StageResult:
    """Detect (or read) the clips of one video and write their clip.json files."""
    video = root.video_file(video_id)
    source = read_source(root, video_id)
    probe = read_marker(root.video_marker(video_id, "download")).stats
    notes: list[dict[str, Any]] = []
    stats: dict[str, Any] = {}
    if source.clips_s:
        fps = float(probe["fps"])
        spans, warnings = external_spans(source.clips_s, probe)
        if warnings:
            stats["warnings"] = warnings
            log.warning("%s: %s", video_id, "; ".join(warnings))
        if not spans:
            raise StageFailure(
                f"every RealEstate10K span lies outside the video ({warnings[0]})", **stats
            )
        motion, origin = None, "realestate10k"
    else:
        try:
            found = scan_video(video, cfg)
        except Exception as e:  # PySceneDetect/PyAV on a file that passed validation
            raise StageFailure(
                f"{root.relative(video)}: shot detection failed ({type(e).__name__}: {e})"
            ) from e
        fps, motion, origin = found.fps, found.motion, "shots"
        scales = [max(2, int(round(s * fps))) for s in cfg.transition_scales_s]
        transitions = gradual_transitions(
            found.thumbs, scales, cfg.transition_ratio, cfg.transition_min_change
        )
        spans = remove_ranges(found.spans, transitions)
        stats |= {"cuts": len(found.spans) - 1, "transitions": [list(t) for t in transitions]}
    clips = split_spans(spans, fps, cfg)
    if motion is not None:
        mixed = incoherent(clips, found.thumbs, fps, cfg)
        notes += [{"frames": list(p), "reason": why} for p, why in mixed]
        clips = [c for c in clips if c not in dict(mixed)]
    short = [p for p in spans if p[1] - p[0] < cfg.min_clip_s * fps]
    notes += [
        {"frames": list(p), "reason": f"dropped: shorter than {cfg.min_clip_s} s"} for p in short
    ]
    static = []
    if motion is not None and cfg.static_min_motion > 0:
        moving = [(a, b) for a, b in clips if clip_motion(motion, a, b) >= cfg.static_min_motion]
        static = [c for c in clips if c not in moving]
        clips = moving
    notes += [{"frames": list(p), "reason": "dropped: static (no motion)"} for p in static]
    stats |= {"clips": len(clips), "static_dropped": len(static), "fps": fps, "notes": notes}
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
    return StageResult(stats | {"spans": [list(c) for c in clips]})


def run(root: DataRoot, cfg: Config, video_id: str, *, force: bool = False) -> Marker:
    """The shots stage of one downloaded video."""
    return run_item_stage(
        root, cfg, video_id, STAGE, lambda: shots(root, video_id, cfg.shots), force=force
    )


shots_task = task(name="shots")(run)
