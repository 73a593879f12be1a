"""True occupancy: free space before the camera, classes at seen surfaces, similarity-aware."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.geometry import backproject, voxel_indices
from storage.formats import FREE, UNKNOWN
from storage.truth import read_shots, read_truth_frame
from tasks.synth.occupancy import truth_occupancy

DIMS, SIZE = (60, 60, 36), 0.08


def _grid_around(frame: dict) -> np.ndarray:
    """Origin of a grid whose x-y centre is 2 m in front of the camera, floor at its bottom."""
    pose = frame["cam2world"].astype(np.float64)
    ahead = pose[:3, 3] + 2.0 * pose[:3, 2]
    return np.array([ahead[0] - 2.4, ahead[1] - 2.4, -0.05])


def test_space_before_the_surface_is_free_and_seen_surfaces_carry_their_class(tour: Path):
    truth = tour / "truth"
    i = read_shots(truth)[0].start_frame + 3
    frame = read_truth_frame(truth, i)
    origin = _grid_around(frame)
    grid = truth_occupancy(tour, i, origin, SIZE, DIMS)
    pose = frame["cam2world"].astype(np.float64)
    near = pose[:3, 3] + 0.5 * pose[:3, 2]  # half a metre in front of the lens
    ijk, inside = voxel_indices(near[None], origin, SIZE, DIMS)
    assert inside[0] and grid[tuple(ijk[0])] == FREE
    points, pix = backproject(frame["depth"], frame["K"], pose)
    ijk, inside = voxel_indices(points, origin, SIZE, DIMS)
    got = grid[tuple(ijk[inside].T)]
    want = frame["labels"].reshape(-1)[pix][inside]
    # all but slivers at silhouettes (seen by a video ray, missed by the finer rays) are occupied
    assert (got != FREE).mean() > 0.999 and (got != UNKNOWN).mean() > 0.999
    assert (got == want).mean() > 0.85  # voxels on class borders go to the majority
    assert (grid == UNKNOWN).any()  # behind walls and outside the view


def test_scaled_truth_world_gives_the_same_grid_at_the_scaled_voxel_size(tour: Path):
    i = 4
    origin = _grid_around(read_truth_frame(tour / "truth", i))
    base = truth_occupancy(tour, i, origin, SIZE, DIMS)
    sim = np.diag([2.0, 2.0, 2.0, 1.0])
    scaled = truth_occupancy(tour, i, 2 * origin, 2 * SIZE, DIMS, world_from_truth=sim)
    assert (scaled == base).mean() > 0.995


def test_outdoor_frames_have_no_classed_voxels(tour: Path):
    shot = next(s for s in read_shots(tour / "truth") if not s.indoor)
    frame = read_truth_frame(tour / "truth", shot.start_frame)
    grid = truth_occupancy(tour, shot.start_frame, _grid_around(frame), SIZE, DIMS)
    assert set(np.unique(grid)) <= {FREE, UNKNOWN} and (grid == FREE).any()


def _box_mesh(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    from tasks.synth.scene import _CUBE_T, _CUBE_V

    return np.asarray(lo) + _CUBE_V * (np.subtract(hi, lo)), _CUBE_T


def test_separating_axis_test_agrees_with_the_analytic_surface_of_a_box():
    """The voxels a box's faces cross are those meeting the closed box but not inside its open
    interior: computed here from the box's bounds alone, compared voxel for voxel. The box's
    faces lie on voxel boundaries (0.08, 0.24, 0.4), the case the half-open convention decides."""
    from tasks.synth.occupancy import occupied_classes

    lo, hi, size, dims = (0.08, 0.21, 0.05), (0.9, 0.24, 0.4), 0.08, (14, 14, 10)
    v, t = _box_mesh(lo, hi)
    any_, classes = occupied_classes(v, t, np.full(12, 5, np.uint8), np.zeros(3), size, dims)
    c = (np.indices(dims).reshape(3, -1).T + 0.5) * size
    meets = np.all((c + size / 2 > lo) & (c - size / 2 <= hi), axis=1)  # cubes [c−h, c+h)
    interior = np.all((c - size / 2 > lo) & (c + size / 2 <= hi), axis=1)
    assert np.array_equal(any_, meets & ~interior)
    assert np.array_equal(classes[:, 5], any_) and not classes[:, :5].any()


def test_separating_axis_test_of_a_tilted_triangle_against_its_dense_samples():
    """Every voxel holding a point of the triangle is crossed (no miss), and every crossed voxel
    is within half a cube diagonal of it (no voxel far from it)."""
    from tasks.synth.occupancy import triangle_box_overlap

    tri = np.array([[0.05, 0.11, 0.02], [0.93, 0.31, 0.47], [0.27, 0.88, 0.71]])
    size, dims = 0.08, (13, 13, 11)
    c = (np.indices(dims).reshape(3, -1).T + 0.5) * size
    hit = triangle_box_overlap(tri, c, size / 2)
    a, b = np.random.default_rng(0).random((2, 200_000))
    flip = a + b > 1
    a[flip], b[flip] = 1 - a[flip], 1 - b[flip]
    pts = tri[0] + a[:, None] * (tri[1] - tri[0]) + b[:, None] * (tri[2] - tri[0])
    sampled = np.zeros(len(c), bool)
    sampled[np.ravel_multi_index(np.floor(pts / size).astype(int).T, dims)] = True
    assert not (sampled & ~hit).any()
    d = c[hit] - tri[0]  # distance to the triangle's plane bounds the distance to it
    n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
    dist = np.abs(d @ n) / np.linalg.norm(n)
    assert dist.max() <= size * np.sqrt(3) / 2 + 1e-6
    assert hit.sum() <= 1.5 * sampled.sum()  # the exact set is the sampled one plus slivers
