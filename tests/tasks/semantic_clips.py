"""Tiny clips on disk for the indoor and segment stage tests: frames, index, upstream markers.

Also a tiny synthetic-tour truth folder written with storage/truth.py writers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from storage.atomic import write_json
from storage.config import Config
from storage.ids import video_id_of_clip
from storage.layout import VIDEO_STAGES, DataRoot
from storage.stages import run_item_stage
from storage.truth import TruthShot, bind_video, write_meta, write_shots, write_truth_frame
from tests.support.truth_room import encode_video


def make_clip(
    root: DataRoot,
    clip_id: str,
    images: np.ndarray,
    video_frames: list[int],
    done: tuple[str, ...] = ("frames",),
    scale: float = 1.0,
    cfg: Config | None = None,
    truth: Path | None = None,
) -> None:
    """Write frames/{k}.jpg, frames/index.json and, through the real marker machinery with
    no-op bodies, `ok` markers for the video stages and the clip stages in `done`.

    With `truth`: the video file (these images encoded, unless the video has one) and `truth`
    bound to it, as a synthetic-gt backend needs."""
    for k, im in enumerate(images):
        path = root.frame_path(clip_id, k)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(path, quality=95)
    h, w = images.shape[1:3]
    write_json(
        root.frames_index(clip_id),
        {"video_frames": video_frames, "width": w, "height": h, "scale": scale},
    )
    cfg = cfg or Config()
    for stage in VIDEO_STAGES:
        run_item_stage(root, cfg, video_id_of_clip(clip_id), stage, lambda: None)
    for stage in done:
        run_item_stage(root, cfg, clip_id, stage, lambda: None)
    if truth is not None:
        video = root.video_file(video_id_of_clip(clip_id))
        bind_video(truth, video if video.exists() else encode_video(video, list(images)))


def make_truth(folder: Path, labels: np.ndarray, shots: list[TruthShot]) -> Path:
    """A truth folder with one NYU label image per video frame (labels (N,H,W)); return it."""
    n, h, w = labels.shape
    write_meta(folder, {"width": w, "height": h, "fps": 24, "num_frames": n, "seed": 0})
    write_shots(folder, shots)
    K = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], np.float32)
    for i in range(n):
        write_truth_frame(folder, i, K, np.eye(4), np.ones((h, w), np.float32), labels[i])
    return folder
