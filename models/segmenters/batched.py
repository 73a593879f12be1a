"""Segmentation networks as :class:`~models.backends.Segmenter` backends: a clip's frames in
batches of ``batch_size`` through :func:`models.segmenters.load_segmenter` (config
``segment.<backend>``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from models.backends import WeightSpec
from storage.config import Config, SegmenterModelConfig
from storage.frames import ClipFrames
from storage.markers import StageFailure


class ModelSegmenter:
    """A network backend named :attr:`name`; subclasses say how to find its weights."""

    name: ClassVar[str]
    what: ClassVar[str]

    def __init__(self, cfg: Config) -> None:
        self.cfg: SegmenterModelConfig = getattr(
            cfg.segment, cfg.segment.subsection_name(self.name)
        )

    @classmethod
    def locate(cls, spec: str) -> Path:
        """The weights of `spec` on disk or in the Hub cache (WeightsNotFound), not loaded."""
        raise NotImplementedError

    @classmethod
    def required_weights(cls, cfg: Config) -> list[WeightSpec]:
        spec = getattr(cfg.segment, cfg.segment.subsection_name(cls.name)).weights
        return [WeightSpec("segment", cls.name, spec, cls.what, lambda: cls.locate(spec))]

    @property
    def weights_id(self) -> str:
        return self.cfg.weights

    def segment(self, clip: ClipFrames) -> list[tuple[np.ndarray, np.ndarray]]:
        from models.device import set_threads
        from models.segmenters import load_segmenter
        from models.segmenters.queries import ClassTableError

        set_threads(self.cfg.threads)
        try:
            model = load_segmenter(self.name, self.cfg.weights, self.cfg.device)
        except ClassTableError as e:
            raise StageFailure(str(e)) from e
        images, step = clip.images, self.cfg.batch_size
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(0, len(images), step):
            labels, regions = model.segment(images[i : i + step])
            out += list(zip(labels, regions, strict=True))
        return out


class Mask2FormerAde(ModelSegmenter):
    """Mask2Former (ADE20K-150 → NYU-11), ``segment.mask2former_ade``."""

    name: ClassVar[str] = "mask2former-ade"
    what: ClassVar[str] = "Mask2Former ADE20K segmenter"

    @classmethod
    def locate(cls, spec: str) -> Path:
        from models.weights import resolve_dir

        return resolve_dir(spec, what=cls.what)


class San(ModelSegmenter):
    """SAN open-vocabulary segmentation, ``segment.san``."""

    name: ClassVar[str] = "san"
    what: ClassVar[str] = "SAN checkpoint"

    @classmethod
    def locate(cls, spec: str) -> Path:
        from models.weights import resolve_file

        return resolve_file(spec, "san_vit_b_16.pth", what=cls.what)
