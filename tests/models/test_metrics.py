"""SSC metrics follow MonoScene's SSCMetrics: 255 ignored, IoU of occupancy, mIoU over all 11
classes with absent ones counting 0 (or, on request, over the classes present)."""

import numpy as np
import pytest

from models.metrics import SSCMetrics


class MonoSceneReference:
    """MonoScene's ``SSCMetrics`` formulas (``add_batch``, ``get_score_completion``,
    ``get_score_semantic_and_completion``, ``get_stats``) written out from the public code,
    per sample and per class with element-wise comparisons, independent of our confusion matrix.
    """

    def __init__(self, n_classes: int = 12) -> None:
        self.n = n_classes
        self.tp = self.fp = self.fn = 0
        self.tps = np.zeros(n_classes)
        self.fps = np.zeros(n_classes)
        self.fns = np.zeros(n_classes)

    def add_batch(self, y_pred: np.ndarray, y_true: np.ndarray) -> None:
        for pred, true in zip(y_pred, y_true, strict=True):  # batch of samples
            pred, true = pred.reshape(-1).copy(), true.reshape(-1).copy()
            nonempty = true != 255
            pred[true == 255] = 0
            true[true == 255] = 0
            b_true, b_pred = (true > 0)[nonempty], (pred > 0)[nonempty]
            self.tp += np.sum(b_true & b_pred)
            self.fp += np.sum(~b_true & b_pred)
            self.fn += np.sum(b_true & ~b_pred)
            yt, yp = true[nonempty], pred[nonempty]
            for j in range(self.n):
                self.tps[j] += np.sum((yt == j) & (yp == j))
                self.fps[j] += np.sum((yt != j) & (yp == j))
                self.fns[j] += np.sum((yt == j) & (yp != j))

    def get_stats(self) -> dict[str, float]:
        iou = self.tp / (self.tp + self.fp + self.fn) if self.tp != 0 else 0.0
        iou_ssc = self.tps / (self.tps + self.fps + self.fns + 1e-5)
        return {"iou": 100 * iou, "miou": 100 * float(np.mean(iou_ssc[1:])),
                "iou_ssc": 100 * iou_ssc[1:]}  # fmt: skip


def random_batches(rng: np.random.Generator, classes: np.ndarray, n: int = 3):
    """Batches of (2, 12, 12, 8) grids with labels from `classes`, 10 % unknown, and predictions
    right 60 % of the time, otherwise any of 0..11 (so absent classes can still be predicted)."""
    for _ in range(n):
        t = rng.choice(classes, size=(2, 12, 12, 8)).astype(np.uint8)
        t[rng.random(t.shape) < 0.1] = 255
        p = np.where(rng.random(t.shape) < 0.6, t, rng.integers(0, 12, t.shape)).astype(np.uint8)
        p[p == 255] = 0
        yield p, t


# Tolerance: MonoScene's 1e-5 epsilon is in our formula too; 1e-4 (percent) leaves room only
# for float summation order.
@pytest.mark.parametrize(
    "classes",
    [np.arange(12), np.array([0, 2, 3]), np.array([0, 1, 5, 11]), np.array([0])],
    ids=["all-classes", "floor-wall", "three-classes", "free-only"],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_monoscene_on_random_grids(classes: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ours, ref = SSCMetrics(), MonoSceneReference()
    for p, t in random_batches(rng, classes):
        ours.add(p, t)
        ref.add_batch(p, t)
    want = ref.get_stats()
    assert ours.iou() == pytest.approx(want["iou"], abs=1e-4)
    assert ours.miou() == pytest.approx(want["miou"], abs=1e-4)
    np.testing.assert_allclose(list(ours.per_class().values()), want["iou_ssc"], atol=1e-4)


@pytest.mark.parametrize("present", [(2, 3), (2,), (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)])
def test_perfect_prediction_of_few_classes_counts_absent_ones_as_zero(present: tuple) -> None:
    """The reported case: floor and wall only, predicted perfectly → MonoScene's 2/11 = 18.18."""
    t = np.zeros((60, 60, 36), np.uint8)
    for i, c in enumerate(present):
        t[i] = c
    t[-1] = 255
    ours, ref = SSCMetrics(), MonoSceneReference()
    ours.add(t.copy(), t)
    ref.add_batch(t[None].copy(), t[None])
    assert ours.miou() == pytest.approx(ref.get_stats()["miou"], abs=1e-4)
    assert ours.miou() == pytest.approx(100 * len(present) / 11, abs=1e-4)
    assert ours.iou() == pytest.approx(100.0)
    present_only = SSCMetrics(average="present")
    present_only.add(t.copy(), t)
    assert present_only.miou() == pytest.approx(100.0, abs=1e-4)
    assert present_only.summary()["classes_present"] == [
        n for i, n in enumerate(ours.per_class(), start=1) if i in present
    ]


def test_hand_computed_iou_and_both_averages() -> None:
    target = np.array([0, 0, 1, 1, 2, 2, 255, 255])
    pred = np.array([0, 1, 1, 1, 2, 0, 3, 0])
    m = SSCMetrics()
    m.add(pred, target)
    # occupied: target {2,3,4,5}, pred {1,2,3,4}; 255 positions ignored → inter 3, union 5
    assert m.iou() == pytest.approx(60.0)
    pc = m.per_class()
    assert pc["ceiling"] == pytest.approx(200 / 3, abs=1e-3)  # inter 2, union 3
    assert pc["floor"] == pytest.approx(50.0, abs=1e-3)  # inter 1, union 2
    assert pc["wall"] == 0.0  # label 3 only predicted where target is 255: absent
    assert m.miou() == pytest.approx((200 / 3 + 50) / 11, abs=1e-3)
    p = SSCMetrics(average="present")
    p.add(pred, target)
    assert np.isnan(p.per_class()["wall"])
    assert p.miou() == pytest.approx((200 / 3 + 50) / 2, abs=1e-3)


def test_nothing_occupied_scores_zero_like_monoscene() -> None:
    m = SSCMetrics()
    m.add(np.zeros(10, np.uint8), np.zeros(10, np.uint8))
    assert m.iou() == 0.0 and m.miou() == 0.0
    assert np.isnan(SSCMetrics(average="present").miou())


@pytest.mark.parametrize(
    "pred, target, match",
    [
        (np.zeros(4, np.float32), np.zeros(4, np.uint8), "integer"),
        (np.zeros(4, np.uint8), np.zeros(5, np.uint8), "shape"),
        (np.full(4, 12, np.uint8), np.zeros(4, np.uint8), "0..11"),
        (np.full(4, -1, np.int64), np.zeros(4, np.uint8), "0..11"),
    ],
)
def test_bad_inputs_are_refused(pred, target, match) -> None:
    with pytest.raises(ValueError, match=match):
        SSCMetrics().add(pred, target)


def test_unknown_average_is_refused() -> None:
    with pytest.raises(ValueError, match="average"):
        SSCMetrics(average="mean")  # type: ignore[arg-type]


def test_batches_accumulate() -> None:
    rng = np.random.default_rng(0)
    m = SSCMetrics()
    for _ in range(3):
        t = rng.integers(0, 12, size=(6, 6, 4)).astype(np.uint8)
        m.add(t.copy(), t)
    assert m.iou() == pytest.approx(100.0) and m.miou() == pytest.approx(100.0, abs=1e-4)


def test_geometry_only_grids_give_iou_and_no_miou() -> None:
    """254 (occupied, no class) counts as occupied in either grid; mIoU is NaN thereafter."""
    from storage.formats import OCCUPIED

    target = np.array([[OCCUPIED, OCCUPIED, 0, 0, 255]], np.uint8)
    pred = np.array([[3, 0, 0, OCCUPIED, 7]], np.uint8)
    m = SSCMetrics()
    m.add(pred, target)
    assert m.iou() == pytest.approx(100 / 3)  # tp 1, fn 1, fp 1
    assert m.geometry_only and np.isnan(m.miou())
    summary = m.summary()
    assert summary["geometry_only"] and all(np.isnan(v) for v in summary["per_class"].values())
