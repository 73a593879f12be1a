"""Semantic scene completion metrics in the MonoScene/SSC convention (numpy only).

Source: MonoScene's ``SSCMetrics`` (``monoscene/models/ssc_metrics.py``, Cao & de Charette,
CVPR 2022), itself from SSCNet's evaluation. Over voxels whose target is not 255, summed over
the whole set before dividing:

- ``iou``: completion IoU of occupied (label > 0) vs free, tp / (tp + fp + fn); 0 when nothing
  is both predicted and truly occupied (MonoScene's ``get_stats``);
- per class c in 1..11: tp_c / (tp_c + fp_c + fn_c + 1e-5) (MonoScene's ``iou_ssc``);
- ``miou`` with ``average="all"`` (the default, MonoScene's ``iou_ssc_mean``): the mean over all
  11 classes, a class absent from target and prediction counting 0 (so a perfect prediction
  of a grid holding two classes scores 2/11 = 18.18); with ``average="present"``: the mean over
  the classes that occur in the target or the prediction only (absent classes are NaN and left
  out) — what a scene holding few classes is fairly judged by, not what papers report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from storage.formats import CLASS_NAMES, NUM_CLASSES, OCCUPIED, UNKNOWN

_N = NUM_CLASSES + 1  # free + 11 classes
EPS = 1e-5
"""MonoScene's denominator epsilon in the per-class IoU (its ``iou_ssc``)."""

Average = Literal["all", "present"]
AVERAGES: tuple[str, ...] = ("all", "present")


@dataclass
class SSCMetrics:
    """Accumulates a (12 × 12) confusion matrix over samples; reports IoU/mIoU in percent.

    `average`: ``"all"`` (MonoScene: mean over the 11 classes, absent ones count 0) or
    ``"present"`` (mean over the classes in target or prediction). Raises ValueError on an
    unknown `average`.
    """

    average: Average = "all"
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((_N, _N), np.int64))
    geometry_only: bool = False
    """Set once a grid holding 254 (occupied, no class) is added: IoU only, mIoU NaN."""

    def __post_init__(self) -> None:
        if self.average not in AVERAGES:
            raise ValueError(f"average must be one of {AVERAGES}, got {self.average!r}")

    def add(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Add one sample (or a batch): integer arrays of the same shape; target 255 is ignored.

        Raises ValueError on differing shapes, non-integer arrays or labels outside 0..11.
        """
        pred, target = np.asarray(pred), np.asarray(target)
        for name, a in (("pred", pred), ("target", target)):
            if not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"{name} must hold integer labels, got {a.dtype}")
        if pred.shape != target.shape:
            raise ValueError(f"pred {pred.shape} and target {target.shape} differ in shape")
        pred, target = pred.reshape(-1), target.reshape(-1)
        if (pred == OCCUPIED).any() or (target == OCCUPIED).any():
            self.geometry_only = True  # some voxel has no class: IoU only from now on
            pred = np.where(pred == OCCUPIED, 1, pred)  # any class: occupancy is what counts
            target = np.where(target == OCCUPIED, 1, target)
        keep = target != UNKNOWN
        t = target[keep].astype(np.int64)
        p = pred[keep].astype(np.int64)
        if t.size and (t.min() < 0 or p.min() < 0 or t.max() >= _N or p.max() >= _N):
            raise ValueError(f"labels must lie in 0..{_N - 1} (or 255 in the target)")
        self.confusion += np.bincount(t * _N + p, minlength=_N * _N).reshape(_N, _N)

    def iou(self) -> float:
        """Occupied-vs-free completion IoU (%); 0 when no voxel is a true positive."""
        tp = self.confusion[1:, 1:].sum()
        fp = self.confusion[0, 1:].sum()
        fn = self.confusion[1:, 0].sum()
        return float(100.0 * tp / (tp + fp + fn)) if tp > 0 else 0.0

    def present(self) -> np.ndarray:
        """Mask (11,) of the classes that occur in the target or the prediction."""
        c = self.confusion
        return (c[1:, :].sum(axis=1) + c[:, 1:].sum(axis=0)) > 0

    def class_iou(self) -> np.ndarray:
        """IoU (%) of each of the 11 classes, (11,): 0 for absent classes with ``"all"``, NaN
        with ``"present"``."""
        c = self.confusion
        tp = np.diag(c)[1:].astype(np.float64)
        fp = c[:, 1:].sum(axis=0) - tp
        fn = c[1:, :].sum(axis=1) - tp
        iou = 100.0 * tp / (tp + fp + fn + EPS)
        if self.average == "present":
            iou[~self.present()] = np.nan
        return iou

    def per_class(self) -> dict[str, float]:
        """`class_iou` by class name."""
        return dict(zip(CLASS_NAMES, self.class_iou().tolist(), strict=True))

    def miou(self) -> float:
        """Mean of the per-class IoUs (%) following `average` (NaN: no class present, or
        geometry-only grids were added)."""
        if self.geometry_only:
            return float("nan")
        iou = self.class_iou()
        if self.average == "all":
            return float(iou.mean())
        return float(np.nanmean(iou)) if self.present().any() else float("nan")

    def summary(self) -> dict[str, object]:
        """iou, miou, per_class (percent), the averaging rule and the classes present."""
        return {
            "iou": self.iou(),
            "miou": self.miou(),
            "per_class": {n: float("nan") for n in CLASS_NAMES}
            if self.geometry_only
            else self.per_class(),
            "geometry_only": self.geometry_only,
            "miou_average": self.average,
            "classes_present": [n for n, p in zip(CLASS_NAMES, self.present(), strict=True) if p],
        }
