"""SSC metrics follow the MonoScene convention: 255 ignored, IoU of occupancy, mIoU over 11."""

import numpy as np
import pytest

from models.metrics import SSCMetrics


def test_hand_computed_iou_and_miou() -> None:
    target = np.array([0, 0, 1, 1, 2, 2, 255, 255])
    pred = np.array([0, 1, 1, 1, 2, 0, 3, 0])
    m = SSCMetrics()
    m.add(pred, target)
    # occupied: target {2,3,4,5}, pred {1,2,3,4}; 255 positions ignored → inter 3, union 5
    assert m.iou() == pytest.approx(60.0)
    pc = m.per_class()
    assert pc["ceiling"] == pytest.approx(200 / 3)  # inter 2, union 3
    assert pc["floor"] == pytest.approx(50.0)  # inter 1, union 2
    assert np.isnan(pc["wall"])  # label 3 only predicted where target is 255
    assert m.miou() == pytest.approx((200 / 3 + 50) / 2)


def test_perfect_prediction_scores_100_and_batches_accumulate() -> None:
    rng = np.random.default_rng(0)
    m = SSCMetrics()
    for _ in range(3):
        t = rng.integers(0, 12, size=(6, 6, 4)).astype(np.uint8)
        m.add(t.copy(), t)
    assert m.iou() == pytest.approx(100.0) and m.miou() == pytest.approx(100.0)
