"""frames stage: sample ~22 sharp frames per clip, evenly, at the working size (JPEG).

Candidates are 3× the wanted count, evenly spread over the clip and decoded in display
orientation (``tasks.decode``); a candidate is blurry when its variance of Laplacian is an
outlier below the clip's own (robust z-score, so soft footage is judged against itself) or
under ``blur_ratio`` × the clip's median; the wanted count is then taken evenly from the sharp
ones. The marker counts candidates and rejections; ``frames/index.json`` records each
sample's video frame.
"""

from __future__ import annotations

import av
import cv2
import numpy as np
from prefect import task

from storage.atomic import write_bytes, write_json
from storage.config import Config, FramesConfig
from storage.formats import read_clip_info
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult
from storage.stages import run_item_stage
from tasks.decode import decode_frames

STAGE = "frames"
_MAD_FLOOR = 0.05  # log units: see blurry()


def sharpness(images: list[np.ndarray]) -> np.ndarray:
    """Variance of the Laplacian of each image (higher is sharper)."""
    return np.array(
        [cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for im in images]
    )


def blurry(sharp: np.ndarray, ratio: float) -> np.ndarray:
    """Which frames are blurry relative to their clip's own sharpness (boolean, like `sharp`).

    Robust outliers on log sharpness: the modified z-score 0.6745·(x − median)/MAD under −3.5
    (Iglewicz & Hoaglin's outlier cut-off), with the MAD floored at 0.05 (unsmeared frames of
    one steady clip stay within ~10 % of its median: noise and compression), so a uniformly
    soft clip still rejects a frame at ≲ 0.77 × its median whatever its absolute sharpness,
    and a clip of varying sharpness rejects less; under `ratio` × the median a frame is always
    blurry.
    """
    logs = np.log(np.maximum(sharp, 1e-6))
    med = float(np.median(logs))
    mad = max(float(np.median(np.abs(logs - med))), _MAD_FLOOR)
    return (0.6745 * (logs - med) / mad < -3.5) | (logs < med + np.log(ratio))


def pick_sharp(candidates: np.ndarray, sharp: np.ndarray, count: int, ratio: float) -> np.ndarray:
    """`count` candidates spread evenly over those not blurry (see :func:`blurry`)."""
    keep = candidates[~blurry(sharp, ratio)]
    if len(keep) <= count:
        return keep
    return keep[np.linspace(0, len(keep) - 1, count).round().astype(int)]


def working_size(width: int, height: int, long_side: int) -> tuple[int, int, float]:
    """(w, h, scale) with the long side at most `long_side`, even sizes."""
    scale = min(1.0, long_side / max(width, height))
    return int(round(width * scale / 2) * 2), int(round(height * scale / 2) * 2), scale


def sample_frames(root: DataRoot, clip: str, cfg: FramesConfig) -> StageResult:
    """Write the clip's sampled frames and index.json."""
    info = read_clip_info(root.clip_json(clip))
    n = info.num_frames
    candidates = np.unique(
        np.linspace(info.start_frame, info.end_frame - 1, min(n, 3 * cfg.per_clip))
        .round()
        .astype(int)
    )
    video = root.video_file(info.video_id)
    try:
        decoded = decode_frames(video, candidates, info.fps)
    except (av.error.FFmpegError, OSError) as e:
        raise StageFailure(
            f"{root.relative(video)}: decoding failed ({type(e).__name__}: {e})"
        ) from e
    candidates = np.array([c for c in candidates if c in decoded])
    if len(candidates) < 2:
        raise StageFailure(
            f"{root.relative(video)}: only {len(candidates)} decodable frames in "
            f"frames {info.start_frame}-{info.end_frame}"
        )
    images = [decoded[int(c)] for c in candidates]
    sharp = sharpness(images)
    chosen = pick_sharp(candidates, sharp, cfg.per_clip, cfg.blur_ratio)
    h0, w0 = images[0].shape[:2]
    w, h, scale = working_size(w0, h0, cfg.long_side)
    for old in root.frames_dir(clip).glob("*.jpg"):
        old.unlink()  # a re-run may sample fewer frames
    for k, idx in enumerate(chosen):
        im = (
            cv2.resize(decoded[int(idx)], (w, h), interpolation=cv2.INTER_AREA)
            if scale < 1
            else decoded[int(idx)]
        )
        ok, buf = cv2.imencode(
            ".jpg",
            cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality],
        )
        if not ok:
            raise StageFailure(f"JPEG encoding failed for frame {idx}")
        write_bytes(root.frame_path(clip, k), buf.tobytes())
    index = {"video_frames": [int(i) for i in chosen], "width": w, "height": h, "scale": scale}
    write_json(root.frames_index(clip), index)
    return StageResult(
        {
            "frames": len(chosen),
            "candidates": len(candidates),
            "rejected_blurry": int(blurry(sharp, cfg.blur_ratio).sum()),
            "width": w,
            "height": h,
        }
    )


def run(root: DataRoot, cfg: Config, clip: str, *, force: bool = False) -> Marker:
    """The frames stage of one clip."""
    return run_item_stage(
        root, cfg, clip, STAGE, lambda: sample_frames(root, clip, cfg.frames), force=force
    )


frames_task = task(name="frames")(run)
