"""``indoor.backend: none`` as a :class:`~models.backends.SceneClassifier`: no model, keep all.

Every frame scores 0 (indoor), so no clip is dropped as outdoor; the marker names the backend
``none`` so a dataset built this way says its clips were never filtered.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from models.backends import WeightFree
from storage.config import Config
from storage.frames import ClipFrames


class NoSceneFilter(WeightFree):
    """Outdoor score 0 for every frame (see the module docstring)."""

    name: ClassVar[str] = "none"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def outdoor_scores(self, clip: ClipFrames) -> tuple[np.ndarray, list[str]]:
        return np.zeros(len(clip.video_frames)), []
