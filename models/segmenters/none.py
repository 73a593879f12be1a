"""``segment.backend: none`` as a :class:`~models.backends.Segmenter`: no model, no classes.

Every pixel gets label 0 (no class) and region -1 (no mask), so voxelize marks occupied voxels
254 (occupied, class unknown: ``storage.formats.OCCUPIED``) and pretraining takes SLIC
superpixels. Samples made this way are geometry-only; the marker, the dataset rows and the
card name the backend ``none``. Running ``segment`` later with a real backend changes the
stage's key, so only segment and what reads it (voxelize) re-run.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from models.backends import WeightFree
from storage.config import Config
from storage.frames import ClipFrames


class NoSegmenter(WeightFree):
    """Labels 0 and regions -1 for every pixel (see the module docstring)."""

    name: ClassVar[str] = "none"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def segment(self, clip: ClipFrames) -> list[tuple[np.ndarray, np.ndarray]]:
        h, w = clip.size
        return [
            (np.zeros((h, w), np.uint8), np.full((h, w), -1, np.int32)) for _ in clip.video_frames
        ]
