"""The demo's truth → aligned-world similarity for a reconstruction that stores none (COLMAP):
fitted to the camera poses of the registered frames."""

from __future__ import annotations

import numpy as np

from flows.demo import world_from_truth
from storage.atomic import write_json
from storage.formats import write_recon
from tests.support.rooms import random_similarity, transform_poses
from tests.support.truth_room import write_truth_room


def test_similarity_is_recovered_from_poses_and_unregistered_frames_are_ignored(
    root, tmp_path
) -> None:
    truth = tmp_path / "truth"
    K, poses = write_truth_room(truth, 6)
    sim = random_similarity(3)
    recon_poses = transform_poses(sim, poses)
    registered = np.array([True, True, False, True, True, True])
    recon_poses[2] = np.eye(4)  # an unregistered frame's (interpolated) pose: must not count
    clip = "v-000"
    root.recon_npz(clip).parent.mkdir(parents=True)
    depth = np.ones((6, 4, 4), np.float32)
    write_recon(root.recon_npz(clip), np.repeat(K[None], 6, 0), recon_poses, depth, depth,
                registered=registered)  # fmt: skip
    write_json(root.align_json(clip), {"rotation": np.eye(3).tolist(), "scale": 1.0,
                                       "translation": [0.0, 0.0, 0.0]})  # fmt: skip
    np.testing.assert_allclose(world_from_truth(root, clip, truth, list(range(6))), sim, atol=1e-4)
