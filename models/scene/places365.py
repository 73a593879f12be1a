"""The Places365 classifier (``models.places365``) as a :class:`~models.backends.SceneClassifier`
(config ``indoor.places365``): a frame's outdoor score is the mean outdoor flag of its top-k
classes."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from models.backends import WeightSpec
from models.device import set_threads
from storage.config import Config
from storage.frames import ClipFrames


class Places365Classifier:
    """Outdoor scores and top-1 scene names from the official Places365 network."""

    name: ClassVar[str] = "places365"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg.indoor.places365

    @classmethod
    def required_weights(cls, cfg: Config) -> list[WeightSpec]:
        pc = cfg.indoor.places365

        def locate():
            from models.places365 import resolve_checkpoint

            return resolve_checkpoint(pc.weights, pc.arch)

        return [
            WeightSpec("indoor", cls.name, pc.weights, f"Places365 {pc.arch} checkpoint", locate)
        ]

    @property
    def weights_id(self) -> str:
        return f"{self.cfg.arch}:{self.cfg.weights}"

    def outdoor_scores(self, clip: ClipFrames) -> tuple[np.ndarray, list[str]]:
        from models.places365 import classify, load_classifier, outdoor_scores, scene_labels

        set_threads(self.cfg.threads)
        model = load_classifier(self.cfg.weights, self.cfg.arch, self.cfg.device)
        probs = classify(model, clip.images, self.cfg.batch_size)
        labels = scene_labels()
        top1 = [labels.names[i] for i in probs.argmax(axis=1)]
        return outdoor_scores(probs, labels.outdoor, self.cfg.top_k), top1
