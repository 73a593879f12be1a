"""synthetic-gt as a :class:`~models.backends.SceneClassifier`: the synthetic tour's shot flags."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from models.backends import ReadsTruth
from storage.config import Config
from storage.frames import ClipFrames
from storage.markers import StageFailure
from storage.truth import read_shots, synthetic_truth


def truth_scores(clip: ClipFrames, cfg: Config) -> np.ndarray:
    """1.0 for the clip's frames inside an outdoor shot of its video's synthetic tour, else 0.0."""
    shots = read_shots(synthetic_truth(cfg, "indoor", clip))
    starts = np.array([s.start_frame for s in shots])
    ends = np.array([s.end_frame for s in shots])
    outdoor = np.array([not s.indoor for s in shots])
    frames = np.asarray(clip.video_frames)
    inside = (frames[:, None] >= starts[None]) & (frames[:, None] < ends[None])
    if not inside.any(axis=1).all():
        lost = frames[~inside.any(axis=1)][:3].tolist()
        raise StageFailure(f"video frames {lost} fall in no shot of the synthetic truth")
    return outdoor[inside.argmax(axis=1)].astype(np.float64)


class SyntheticScenes(ReadsTruth):
    """Outdoor = the frame lies in a shot the tour marks outdoor."""

    name: ClassVar[str] = "synthetic-gt"

    def outdoor_scores(self, clip: ClipFrames) -> tuple[np.ndarray, list[str]]:
        return truth_scores(clip, self.cfg), []
