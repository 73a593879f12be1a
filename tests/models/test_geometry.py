"""models.geometry: voxel indexing, majority labels, free-space ray marking, back-projection."""

import numpy as np
import pytest

from models.geometry import (
    backproject,
    flat_index,
    majority_grid,
    ray_free_space,
    voxel_flat,
    voxel_indices,
)

DIMS = (10, 8, 6)


def test_voxel_flat_matches_indices_and_drops_outside_and_nan() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.5, 1.5, (5000, 3))
    pts[::50] = np.nan
    origin = np.array([0.05, -0.1, 0.0])
    ijk, inside = voxel_indices(pts, origin, 0.1, DIMS)
    ref = np.full(len(pts), -1)
    ref[inside] = flat_index(ijk[inside], DIMS)
    flat = voxel_flat(pts, origin, 0.1, DIMS)
    assert np.array_equal(flat, ref)
    assert (flat[::50] == -1).all() and (flat >= 0).sum() > 200  # ~6 % of the cube lies in the grid
    # float32 points on the grid's min faces and just inside its max faces stay in their voxels
    corner = np.array(
        [[1.0, 2.0, 3.0], [1.0 + 0.08 * 9.5, 2.0, 3.0], [1.0, 2.0, 3.0 + 0.08 * 5.99]]
    )
    flat32 = voxel_flat(corner.astype(np.float32), corner[0], 0.08, DIMS)
    assert flat32.tolist() == [0, flat_index(np.array([[9, 0, 0]]), DIMS)[0], 5]


def test_majority_label_ties_go_to_the_smaller_id() -> None:
    pts = np.array([[0.01] * 3, [0.02] * 3, [0.03] * 3, [0.04] * 3, [0.15, 0.05, 0.05]])
    labels = np.array([7, 7, 2, 2, 0], np.uint8)
    cls, counts = majority_grid(pts, labels, np.zeros(3), 0.1, DIMS)
    assert cls[0, 0, 0] == 2 and counts[0, 0, 0] == 4
    assert cls[1, 0, 0] == 0 and counts[1, 0, 0] == 1  # unlabelled: occupied, no class
    assert counts.sum() == 5 and (cls > 0).sum() == 1


def test_majority_grid_rejects_labels_past_the_classes() -> None:
    with pytest.raises(ValueError, match="labels outside 0..11"):
        majority_grid(np.zeros((2, 3)), np.array([1, 12], np.uint8), np.zeros(3), 0.1, DIMS)


def test_rays_free_the_voxels_before_a_wall_not_the_wall() -> None:
    # camera at a voxel centre looking along +x (OpenCV z forward) at a wall 0.8 m away
    K = np.array([[20.0, 0, 4], [0, 20.0, 4], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]])  # cam z → world x
    pose[:3, 3] = [0.05, 0.45, 0.35]
    depth = np.full((8, 8), 0.8)
    free = ray_free_space(depth, K, pose, np.zeros(3), 0.1, DIMS)
    pts, _ = backproject(depth, K, pose)
    _, counts = majority_grid(pts, np.ones(len(pts), np.uint8), np.zeros(3), 0.1, DIMS)
    assert free[:7, 4, 3].all()  # the camera's voxel and the ray's voxels up to the wall's
    assert not (free & (counts > 0)).any()  # no surface voxel is freed
    assert not free[9].any()  # nothing behind the wall
    assert not free[5, 7].any()  # outside the field of view (|y - 0.45| > 0.1 at 0.5 m): unseen
    depth[:, :4] = 0  # the left half of the image has no depth: it frees nothing
    holes = ray_free_space(depth, K, pose, np.zeros(3), 0.1, DIMS)
    assert holes.sum() < free.sum() and not (holes & ~free).any()
    assert not holes[5, 5:].any() and holes[5, :5].any()  # cam x → world -y: left = +y


def duplicated(points: np.ndarray, case: str, seed: int = 0) -> tuple[np.ndarray, float]:
    """`points` with duplicates of one kind (as in merged or re-saved clouds), and the true
    share of distinct points."""
    rng = np.random.default_rng(seed)
    some = rng.random(len(points)) < 0.3
    jitter = 1e-4 * np.ptp(points, axis=0).max()  # a re-registration's rounding, « spacing
    return {
        "none": (points, 1.0),
        "twice": (np.concatenate([points, points]), 0.5),
        "30 %": (np.concatenate([points, points[some]]), 1 / 1.3),
        "30 % jittered": (
            np.concatenate([points, points[some] + rng.normal(0, jitter, (some.sum(), 3))]),
            1 / 1.3,
        ),
        "20 times": (np.tile(points, (20, 1)), 0.05),
    }[case]


DUPLICATES = ["none", "twice", "30 %", "30 % jittered", "20 times"]


@pytest.mark.parametrize("case", DUPLICATES)
def test_spacing_ignores_duplicate_and_near_duplicate_points(case: str) -> None:
    from models.geometry import cloud_spacing
    from tests.support.rooms import box_room

    room, _, _ = box_room(spacing=0.04)
    plain = cloud_spacing(room)
    pts, distinct = duplicated(room, case)
    got = cloud_spacing(pts)
    # the sample of 20,000 queries differs with the cloud: 2 % covers that sampling error
    assert got.spacing == pytest.approx(plain.spacing, rel=0.02)
    # 30 % jittered: a few jittered copies land beyond the tolerance and count as distinct
    assert got.distinct == pytest.approx(distinct, rel=0.03)


def test_spacing_of_a_poisson_sample_is_its_median_nearest_neighbour_distance() -> None:
    from models.geometry import cloud_spacing

    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(0, 1, (50_000, 2)), np.zeros(50_000)]
    truth = np.sqrt(np.log(2) / (np.pi * 50_000))  # median NN distance of a Poisson process
    # ~3 % of true nearest neighbours fall inside the duplicate tolerance and are skipped: the
    # median moves up by ~1.5 %; 4 % is that plus the sampling error of 20,000 queries
    assert cloud_spacing(pts).spacing == pytest.approx(truth, rel=0.04)


def test_coincident_points_have_no_spacing() -> None:
    from models.geometry import cloud_spacing, distinct_mask

    assert cloud_spacing(np.ones((500, 3))).spacing == 0.0
    pts = np.r_[np.eye(3), np.eye(3), np.eye(3) + 1e-9]
    assert distinct_mask(pts, 0.0).sum() == 6  # exact copies only
    assert distinct_mask(pts, 1e-6).tolist() == [True] * 3 + [False] * 6


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.ones((100, 1), np.uint8), r"shape \(100,\)"),  # was broadcast to 100×100
        (np.ones(100, np.float64), "integers"),  # even integer-valued floats
        (np.ones(99, np.uint8), r"shape \(100,\)"),
        (np.full(100, 12, np.uint8), "outside"),
    ],
)
def test_majority_grid_refuses_labels_of_the_wrong_kind(labels, match) -> None:
    pts = np.random.default_rng(0).uniform(0, 1, (100, 3))
    with pytest.raises(ValueError, match=match):
        majority_grid(pts, labels, np.zeros(3), 0.1, DIMS)


@pytest.mark.parametrize(
    "origin, size, dims, match",
    [
        (np.array([np.nan, 0, 0]), 0.1, DIMS, "origin"),
        (np.zeros(2), 0.1, DIMS, "origin"),
        (np.zeros(3), float("nan"), DIMS, "size"),
        (np.zeros(3), 0.0, DIMS, "size"),
        (np.zeros(3), 0.1, (10, 0, 6), "dims"),
        (np.zeros(3), 0.1, (2048, 2048, 1024), "dims"),  # int32 flat indices would overflow
    ],
)
def test_majority_grid_refuses_bad_grids(origin, size, dims, match) -> None:
    pts = np.random.default_rng(0).uniform(0, 1, (100, 3))
    with pytest.raises(ValueError, match=match):
        majority_grid(pts, np.ones(100, np.uint8), origin, size, dims)
