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
