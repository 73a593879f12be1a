"""align recovers z-up, Manhattan yaw and the 2.8 m wall height from an arbitrary similarity."""

import numpy as np
import pytest

from models.geometry import transform_points
from storage.config import AlignConfig
from storage.markers import StageFailure
from tasks.align import align_cloud, apply_to_poses, check_report, similarity_matrix
from tests.support.rooms import box_room, random_similarity, transform_poses


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_similarity_is_undone(seed: int) -> None:
    pts, labels, cams = box_room(seed=seed)
    sim = random_similarity(seed)
    rep = align_cloud(transform_points(sim, pts), transform_poses(sim, cams), AlignConfig())
    out = transform_points(similarity_matrix(rep), transform_points(sim, pts))
    floor, ceiling = out[labels == 2], out[labels == 1]

    assert rep["method"] == "floor+ceiling"
    assert abs(np.median(floor[:, 2])) < 0.01 and abs(np.median(ceiling[:, 2]) - 2.8) < 0.01
    assert np.std(floor[:, 2]) < 0.01  # level floor: tilt ≈ 0
    # Manhattan: the floor's bounding box is 5 × 4 only when the walls lie on the x/y axes
    extent = sorted(np.ptp(floor[:, :2], axis=0))
    assert np.allclose(extent, [4.0, 5.0], atol=0.05)
    poses = apply_to_poses(rep, transform_poses(sim, cams))
    assert np.allclose(poses[:, 2, 3], 1.5, atol=0.02)  # cameras back at 1.5 m
    assert np.allclose(np.linalg.det(poses[:, :3, :3]), 1.0)


def test_no_ceiling_falls_back_to_wall_tops() -> None:
    pts, _, cams = box_room(ceiling=False)
    rep = align_cloud(pts, cams, AlignConfig())
    assert rep["method"] == "floor+wall-top" and abs(rep["scale"] - 1.0) < 0.02


def glimpsed_room(sliver: bool):
    """Walls seen up to 2.3 m (the view's top edge) except 1 m of the far wall (y = 4) that
    reaches the 2.8 m ceiling, of which a 6 cm strip is seen beside it (0.15 % of the points)."""
    pts, _, cams = box_room(ceiling=False, seed=3)
    seen_high = (pts[:, 1] > 4.0 - 0.01) & (pts[:, 0] > 2.0) & (pts[:, 0] < 3.0)
    keep = (pts[:, 2] < 2.3) | seen_high
    u, v = np.meshgrid(np.arange(2.0, 3.0, 0.03), np.arange(4.0 - 0.06, 4.0, 0.03))
    strip = np.c_[u.ravel(), v.ravel(), np.full(u.size, 2.8)]
    strip += np.random.default_rng(0).normal(0, 0.003, strip.shape)
    return (np.concatenate([pts[keep], strip]) if sliver else pts[keep]), cams


def test_a_glimpsed_ceiling_sets_the_scale_where_wall_tops_would_not() -> None:
    sim = random_similarity(4)
    pts, cams = glimpsed_room(sliver=True)
    rep = align_cloud(transform_points(sim, pts), transform_poses(sim, cams), AlignConfig())
    truth_scale = 1 / np.cbrt(np.linalg.det(sim[:3, :3]))
    assert rep["method"] == "floor+ceiling-glimpse"
    assert abs(rep["scale"] / truth_scale - 1) < 0.01
    # without the strip nothing marks the ceiling: the visible wall tops stand for it
    pts, cams = glimpsed_room(sliver=False)
    rep = align_cloud(pts, cams, AlignConfig())
    assert rep["method"] == "floor+wall-top" and rep["scale"] > 1.05


@pytest.mark.parametrize("case", ["single-wall", "no-horizontal-plane", "nan", "empty"])
def test_clouds_that_cannot_be_aligned_fail_with_a_reason(case: str) -> None:
    rng = np.random.default_rng(0)
    _, _, cams = box_room()
    pts = {
        "single-wall": np.c_[rng.uniform(0, 5, 5000), np.zeros(5000), rng.uniform(0, 2.8, 5000)],
        "no-horizontal-plane": rng.normal(size=(5000, 3)),
        "nan": np.full((5000, 3), np.nan),
        "empty": np.zeros((0, 3)),
    }[case]
    with pytest.raises(StageFailure, match="floor|too few|degenerate"):
        align_cloud(pts, cams, AlignConfig())


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"scale": float("nan")}, "scale must be finite"),
        ({"scale": -1.0}, "scale must be finite and positive"),
        ({"scale": "big"}, "no usable"),
        ({"rotation": [[2.0, 0, 0], [0, 1, 0], [0, 0, 1]]}, "not a 3×3 rotation"),
        ({"rotation": None}, "not a 3×3 rotation"),
        ({"rotation": [[-1.0, 0, 0], [0, 1, 0], [0, 0, 1]]}, "reflection"),
        ({"translation": [0.0, float("inf"), 0.0]}, "translation must be 3 finite"),
        ({"translation": [0.0, 0.0]}, "translation must be 3 finite"),
    ],
)
def test_check_report_names_the_bad_field(change: dict, reason: str) -> None:
    good = {"rotation": np.eye(3).tolist(), "translation": [0.0, 0.0, 0.0], "scale": 1.0}
    assert check_report(good) is good
    with pytest.raises(StageFailure, match=reason) as err:
        check_report(good | change, "x.json")
    assert err.value.reason.startswith("x.json: ")
