"""Reading a clip's stored frames and ``frames/index.json`` (written by the frames stage).

Every stage after ``frames`` reads its images and the video frame of each sample through here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from storage.atomic import read_json
from storage.layout import DataRoot
from storage.markers import StageFailure


def read_frames_index(root: DataRoot, clip_id: str) -> dict[str, Any]:
    """``frames/index.json``: video frame of each sampled frame k, stored width/height, scale."""
    path = root.frames_index(clip_id)
    if not path.exists():
        raise StageFailure(f"no frames index at {root.relative(path)} (run the frames stage)")
    index = read_json(path)
    if not index.get("video_frames"):
        raise StageFailure(f"{root.relative(path)} lists no frames")
    return index


def read_clip_frames(root: DataRoot, clip_id: str, count: int) -> np.ndarray:
    """The clip's stored frames 0..count-1 as uint8 RGB (F,H,W,3); a missing or odd one fails."""
    images = []
    for k in range(count):
        path = root.frame_path(clip_id, k)
        if not path.exists():
            raise StageFailure(f"frame {root.relative(path)} is missing")
        try:
            with Image.open(path) as im:
                images.append(np.asarray(im.convert("RGB")))
        except (OSError, SyntaxError, ValueError) as e:  # PIL: truncated, not an image, bad data
            raise StageFailure(f"frame {root.relative(path)} is unreadable ({e})") from e
    if len({im.shape for im in images}) != 1:
        raise StageFailure(
            f"frames of {clip_id} differ in size {sorted({im.shape for im in images})}"
        )
    return np.stack(images)
