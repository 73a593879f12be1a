"""Reading a clip's stored frames and ``frames/index.json`` (written by the frames stage).

Every stage after ``frames`` reads its images and the video frame of each sample through here;
model backends see a clip as :class:`ClipFrames`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass
class ClipFrames:
    """One clip's sampled frames as a model backend sees them.

    `video_frames[k]` is the source video frame of sample k; `size` the stored (H, W);
    :attr:`images` (uint8 RGB (F,H,W,3)) is read from the data root on first use, so a backend
    that needs only the frame numbers (synthetic-gt) never decodes a JPEG.
    """

    root: DataRoot
    clip_id: str
    video_frames: list[int]
    size: tuple[int, int]
    _images: np.ndarray | None = field(default=None, repr=False)

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = read_clip_frames(self.root, self.clip_id, len(self.video_frames))
        return self._images


def clip_frames(root: DataRoot, clip_id: str) -> ClipFrames:
    """The clip's :class:`ClipFrames` from ``frames/index.json`` (StageFailure when absent)."""
    index = read_frames_index(root, clip_id)
    frames = [int(i) for i in index["video_frames"]]
    return ClipFrames(root, clip_id, frames, (int(index["height"]), int(index["width"])))


def images_as_clip(images: np.ndarray, name: str, video_frames: list[int]) -> ClipFrames:
    """Frames already in memory (F,H,W,3) uint8 RGB as a :class:`ClipFrames` of no data root
    (``ytocc reconstruct-images``); `video_frames` number them for backends that need it."""
    return ClipFrames(None, name, video_frames, tuple(images.shape[1:3]), images)  # type: ignore[arg-type]
