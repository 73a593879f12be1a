"""synthetic-gt as a :class:`~models.backends.Segmenter`: the synthetic tour's label images for
the clip's video frames, resized to the stored frame size with nearest neighbour; regions are the
connected components of each class."""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np
from scipy import ndimage

from models.backends import ReadsTruth
from storage.frames import ClipFrames
from storage.truth import read_truth_frame, synthetic_truth


def connected_regions(labels: np.ndarray) -> np.ndarray:
    """int32 region ids: the connected components of each class (label 0 → -1, no region)."""
    regions = np.full(labels.shape, -1, np.int32)
    offset = 0
    for c in np.unique(labels[labels > 0]):
        comp, n = ndimage.label(labels == c)
        inside = comp > 0
        regions[inside] = comp[inside] - 1 + offset
        offset += n
    return regions


def truth_segment(labels: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Truth labels (video size) → labels and regions at the stored frame size (H, W)."""
    h, w = size
    resized = cv2.resize(labels.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    return resized, connected_regions(resized)


class SyntheticSegmenter(ReadsTruth):
    """The tour's true labels (see the module docstring)."""

    name: ClassVar[str] = "synthetic-gt"

    def segment(self, clip: ClipFrames) -> list[tuple[np.ndarray, np.ndarray]]:
        folder = synthetic_truth(self.cfg, "segment", clip)
        return [truth_segment(read_truth_frame(folder, i)["labels"], clip.size)
                for i in clip.video_frames]  # fmt: skip
