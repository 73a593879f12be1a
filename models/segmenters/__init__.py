"""Segmenters: frames → per-pixel NYU-11 labels and region masks, behind one interface.

Backends: ``mask2former-ade`` (transformers, ADE20K-150 mapped to NYU-11; the installable
default) and ``san`` (SAN open-vocabulary, needs detectron2 + the SAN repository). Each returns,
for a uint8 RGB batch (B,H,W,3), labels uint8 (B,H,W) in 0..11 (0 = none of the 11 classes)
and regions int32 (B,H,W): the index of the query mask that wins each pixel, the superpixels of
pretraining. ``synthetic-gt`` is not a model (``models/segmenters/synthetic.py``).

:data:`SEGMENTERS` is the ``segment`` stage's registry of :class:`models.backends.Segmenter`
backends (whole clips); a new backend is one module plus one line there.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np

from models.backends import Registry

SEGMENTERS = Registry(
    "segmenter",
    {
        "mask2former-ade": "models.segmenters.batched:Mask2FormerAde",
        "san": "models.segmenters.batched:San",
        "none": "models.segmenters.none:NoSegmenter",
        "synthetic-gt": "models.segmenters.synthetic:SyntheticSegmenter",
    },
)

MODEL_BACKENDS: tuple[str, ...] = ("mask2former-ade", "san")


class SegmentationModel(Protocol):
    """A loaded segmentation model (batches of images)."""

    backend: str
    weights: str

    def segment(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (B,H,W,3) RGB → (labels uint8 (B,H,W) NYU-11, regions int32 (B,H,W))."""
        ...


@lru_cache(maxsize=2)
def load_segmenter(backend: str, weights: str, device: str = "auto") -> SegmentationModel:
    """The segmenter of `backend` with `weights` (path or Hub id), loaded once per process."""
    if backend == "mask2former-ade":
        from models.segmenters.mask2former import Mask2FormerSegmenter

        return Mask2FormerSegmenter.load(weights, device)
    if backend == "san":
        from models.segmenters.san import SanSegmenter

        return SanSegmenter.load(weights, device)
    raise ValueError(
        f"unknown segmenter backend {backend!r}; choose one of {', '.join(MODEL_BACKENDS)}"
    )
