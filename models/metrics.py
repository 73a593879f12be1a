"""Semantic scene completion metrics in the MonoScene/SSC convention (numpy only).

Over voxels whose target is not 255: IoU of occupied (label > 0) vs free, and per-class IoU of
the 11 classes with mIoU their mean. Counts are summed over the whole set before dividing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from storage.formats import CLASS_NAMES, NUM_CLASSES, UNKNOWN

_N = NUM_CLASSES + 1  # free + 11 classes


@dataclass
class SSCMetrics:
    """Accumulates a (12 × 12) confusion matrix over samples; reports IoU/mIoU in percent."""

    confusion: np.ndarray = field(default_factory=lambda: np.zeros((_N, _N), np.int64))

    def add(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Add one sample (or a batch): uint8 arrays of the same shape; target 255 is ignored."""
        pred = np.asarray(pred).reshape(-1)
        target = np.asarray(target).reshape(-1)
        if pred.shape != target.shape:
            raise ValueError(f"pred {pred.shape} and target {target.shape} differ in size")
        keep = target != UNKNOWN
        t = target[keep].astype(np.int64)
        p = pred[keep].astype(np.int64)
        if t.size and (t.max() >= _N or p.max() >= _N):
            raise ValueError(f"labels must lie in 0..{_N - 1} (or 255 in the target)")
        self.confusion += np.bincount(t * _N + p, minlength=_N * _N).reshape(_N, _N)

    def iou(self) -> float:
        """Occupied-vs-free IoU (%)."""
        occ_t = self.confusion[1:, :].sum(axis=1)  # target occupied rows
        tp = self.confusion[1:, 1:].sum()
        fp = self.confusion[0, 1:].sum()
        fn = occ_t.sum() - tp
        return _pct(tp, tp + fp + fn)

    def per_class(self) -> dict[str, float]:
        """IoU (%) of each of the 11 classes; NaN where a class never occurs in target or pred."""
        c = self.confusion
        tp = np.diag(c)[1:]
        fp = c[:, 1:].sum(axis=0) - tp
        fn = c[1:, :].sum(axis=1) - tp
        return {name: _pct(tp[i], tp[i] + fp[i] + fn[i]) for i, name in enumerate(CLASS_NAMES)}

    def miou(self) -> float:
        """Mean of the per-class IoUs over classes present in target or prediction (%)."""
        vals = [v for v in self.per_class().values() if not np.isnan(v)]
        return float(np.mean(vals)) if vals else float("nan")

    def summary(self) -> dict[str, object]:
        return {"iou": self.iou(), "miou": self.miou(), "per_class": self.per_class()}


def _pct(num: float, den: float) -> float:
    return float(100.0 * num / den) if den > 0 else float("nan")
