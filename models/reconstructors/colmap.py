"""colmap as a :class:`~models.backends.Reconstructor` (config ``reconstruct.colmap``): no weights.

SfM of the clip with one shared pinhole camera (:mod:`models.reconstructors.colmap_sfm`), then
dense z-depth for every registered frame: COLMAP's PatchMatch when pycolmap has CUDA
(:mod:`models.reconstructors.patchmatch`), the CPU plane sweep otherwise
(:mod:`models.reconstructors.planesweep`). Confidence means the same on both paths: 1 + the
number of neighbouring views whose own depth agrees (0 where there is no depth), so
``reconstruct.min_conf`` / ``clean.conf_threshold`` = 1.5 keep depths at least one other view
confirms. Frames SfM could not register get a pose interpolated between registered neighbours
(slerp / linear; the nearest one at the ends), zero depth and confidence, and
``registered = False`` in recon.npz; a clip with fewer than ``min_registered_frac`` of its
frames registered fails with that reason.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from models.backends import WeightFree
from models.reconstructors import colmap_sfm, patchmatch, planesweep
from models.steptime import timed
from storage.config import ColmapConfig, Config
from storage.frames import ClipFrames
from storage.markers import StageFailure


def sweep_options(params: ColmapConfig) -> planesweep.SweepOptions:
    """The plane-sweep knobs of a ``reconstruct.colmap`` section."""
    return planesweep.SweepOptions(
        scale=params.sweep_scale,
        levels=params.sweep_levels,
        planes=params.sweep_planes,
        neighbours=params.neighbours,
        window=params.window | 1,
        min_angle_deg=params.min_angle_deg,
        min_texture=params.min_texture,
        min_ncc=params.min_ncc,
        consistency_tolerance=params.consistency_tolerance,
        min_consistent=params.min_consistent,
    )


def dense_method(params: ColmapConfig) -> str:
    """``patch-match`` or ``plane-sweep``: what ``params.dense`` picks on this machine."""
    if params.dense == "auto":
        return "patch-match" if patchmatch.available() else "plane-sweep"
    return params.dense


def fill_poses(cam2world: np.ndarray, registered: np.ndarray) -> np.ndarray:
    """(F,4,4) poses where unregistered frames take a pose interpolated in frame order.

    Rotations by slerp and centres linearly between the registered frames around them; before
    the first or after the last registered frame, that frame's pose.
    """
    known = np.nonzero(registered)[0]
    t = np.clip(np.arange(len(cam2world)), known[0], known[-1])
    out = np.tile(np.eye(4), (len(cam2world), 1, 1))
    if len(known) == 1:
        out[:] = cam2world[known[0]]
        return out
    out[:, :3, :3] = Slerp(known, Rotation.from_matrix(cam2world[known, :3, :3]))(t).as_matrix()
    for axis in range(3):
        out[:, axis, 3] = np.interp(t, known, cam2world[known, axis, 3])
    return out


def reconstruct_images(images: np.ndarray, params: ColmapConfig) -> dict[str, Any]:
    """recon.npz arrays of one clip's frames (F,H,W,3) uint8 RGB, plus ``stats`` for the marker.

    Returns {"K" (F,3,3), "cam2world" (F,4,4) OpenCV axes in the SfM model's (arbitrary) scale,
    "depth" (F,H,W) z-depth in that scale, "conf" (F,H,W), "registered" (F,) bool, "stats"}.
    Raises StageFailure when SfM fails or registers too few frames.
    """
    n, h, w = images.shape[:3]
    method = dense_method(params)
    if method == "patch-match":
        try:  # before SfM: a CPU build cannot finish the clip, say so at once
            patchmatch.require()
        except patchmatch.NeedsCuda as e:
            raise StageFailure(f"reconstruct.colmap.dense=patch-match: {e}") from e
    with tempfile.TemporaryDirectory(prefix="ytocc-colmap-") as tmp:
        workdir = Path(tmp)
        try:
            sfm = colmap_sfm.run_sfm(
                images,
                workdir,
                camera_model=params.camera_model,
                mapper=params.mapper,
                max_features=params.max_features,
                threads=params.threads,
            )
        except colmap_sfm.SfmFailure as e:
            raise StageFailure(str(e)) from e
        frac = float(sfm.registered.mean())
        if frac < params.min_registered_frac:
            raise StageFailure(
                f"COLMAP registered {int(sfm.registered.sum())} of {n} frames "
                f"({frac:.0%} < {params.min_registered_frac:.0%})"
            )
        timings = dict(sfm.timings_s)
        opts = sweep_options(params)
        with timed(timings, "dense"):
            if method == "patch-match":
                depth = patchmatch.patch_match_depth(
                    workdir, colmap_sfm.image_names(n), (h, w), params.min_angle_deg
                )
                depth[~sfm.registered] = 0
                count = _agreeing_views(depth, sfm, opts)
                keep = (depth > 0) & (count >= opts.min_consistent)
                conf = np.where(keep, 1.0 + count, 0.0).astype(np.float32)
                depth = np.where(keep, depth, 0.0).astype(np.float32)
            else:
                try:
                    depth, conf = planesweep.dense_depth(
                        images, sfm.K, sfm.cam2world, sfm.registered, sfm.points,
                        sfm.point_frames, opts,
                    )  # fmt: skip
                except ValueError as e:
                    raise StageFailure(f"dense depth: {e}") from e
    stats = {
        "registered_frames": int(sfm.registered.sum()),
        "registered_frac": frac,
        "sparse_points": len(sfm.points),
        "reprojection_error_px": sfm.reproj_error_px,
        "dense": method,
        "dense_frac": float((depth > 0).mean()),
        **timings,  # wall ({step}_s) and CPU ({step}_cpu_s) seconds per step
    }
    return {
        "K": np.repeat(sfm.K[None], n, axis=0),
        "cam2world": fill_poses(sfm.cam2world, sfm.registered),
        "depth": depth,
        "conf": conf,
        "registered": sfm.registered,
        "stats": stats,
    }


def _agreeing_views(
    depth: np.ndarray, sfm: colmap_sfm.SfmResult, opts: planesweep.SweepOptions
) -> np.ndarray:
    """Per pixel, agreeing neighbours of a full-size depth (F,H,W) (the sweep's own check)."""
    poses = fill_poses(sfm.cam2world, sfm.registered)
    neighbours = planesweep.select_neighbours(
        sfm.point_frames, sfm.points, poses, sfm.registered, opts.neighbours, opts.min_angle_deg
    )
    return planesweep.consistency(depth, sfm.K, poses, neighbours, opts.consistency_tolerance)


class ColmapReconstructor(WeightFree):
    """COLMAP SfM + dense depth (see the module docstring); needs no learned weights."""

    name: ClassVar[str] = "colmap"

    def __init__(self, cfg: Config) -> None:
        self.params = cfg.reconstruct.colmap

    def reconstruct(self, clip: ClipFrames) -> dict[str, Any]:
        return reconstruct_images(clip.images, self.params)
