"""frames stage: sample ~22 sharp frames per clip, evenly, at the working size (JPEG).

Candidates are 3× the wanted count, evenly spread over the clip; a candidate is blurry when
its variance of Laplacian is under ``blur_ratio`` × the clip's median; the wanted count is then
taken evenly from the sharp ones. ``frames/index.json`` records each sample's video frame.
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

STAGE = "frames"


def decode_frames(video_path, wanted: np.ndarray, fps: float) -> dict[int, np.ndarray]:
    """RGB frames of the video at the sorted frame numbers `wanted` (one sequential pass)."""
    out: dict[int, np.ndarray] = {}
    want = set(int(i) for i in wanted)
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = float(stream.time_base)
        t0 = float(stream.start_time or 0) * tb
        first = int(wanted.min())
        container.seek(int((first / fps + t0) / tb), stream=stream, backward=True)
        for frame in container.decode(stream):
            idx = int(round((float(frame.pts) * tb - t0) * fps))
            if idx in want:
                out[idx] = frame.to_ndarray(format="rgb24")
            if idx >= wanted.max():
                break
    return out


def sharpness(images: list[np.ndarray]) -> np.ndarray:
    """Variance of the Laplacian of each image (higher is sharper)."""
    return np.array(
        [cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for im in images]
    )


def pick_sharp(candidates: np.ndarray, sharp: np.ndarray, count: int, ratio: float) -> np.ndarray:
    """`count` candidates spread evenly over those not blurrier than ratio × median sharpness."""
    keep = candidates[sharp >= ratio * np.median(sharp)]
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
    try:
        decoded = decode_frames(root.video_file(info.video_id), candidates, info.fps)
    except (av.error.FFmpegError, OSError) as e:
        raise StageFailure(f"decoding failed ({type(e).__name__}: {e})") from e
    candidates = np.array([c for c in candidates if c in decoded])
    if len(candidates) < 2:
        raise StageFailure(f"only {len(candidates)} decodable frames in the clip")
    images = [decoded[int(c)] for c in candidates]
    chosen = pick_sharp(candidates, sharpness(images), cfg.per_clip, cfg.blur_ratio)
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
        {"frames": len(chosen), "candidates": len(candidates), "width": w, "height": h}
    )


def run(root: DataRoot, cfg: Config, clip: str, *, force: bool = False) -> Marker:
    """The frames stage of one clip."""
    return run_item_stage(
        root, cfg, clip, STAGE, lambda: sample_frames(root, clip, cfg.frames), force=force
    )


frames_task = task(name="frames")(run)
