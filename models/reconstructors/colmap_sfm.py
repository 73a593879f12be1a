"""Structure from motion of one clip with COLMAP (pycolmap): one shared camera, poses, sparse points.

Owns the SfM half of the ``colmap`` reconstruct backend: SIFT features, exhaustive matching
(every pair: affordable at ~22 frames, and it registers frames that sequential matching misses),
global (GLOMAP) or incremental mapping, then the largest model converted to arrays in OpenCV
camera axes. Method: Schönberger & Frahm, "Structure-from-Motion Revisited", CVPR 2016;
Pan et al., "Global Structure-from-Motion Revisited", ECCV 2024.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pycolmap

from models.steptime import timed

# COLMAP logs through glog on stderr: every step at INFO (hundreds of lines per clip), and
# warnings and errors whose meaning reaches the user anyway as the clip's one-line reason and its
# marker's stats (registered frames, points, reprojection error). The console gets none of it;
# GLOG_minloglevel=0 (1 warnings, 2 errors) in the environment brings it back for debugging.
pycolmap.logging.minloglevel = int(os.environ.get("GLOG_minloglevel", pycolmap.logging.FATAL))  # noqa: SIM112 (glog spells it so)


@dataclass
class SfmResult:
    """A clip's sparse reconstruction, all frames indexed as given.

    ``K`` (3,3) shared pinhole intrinsics in pixels; ``cam2world`` (F,4,4) OpenCV axes, NaN
    for unregistered frames; ``registered`` (F,) bool; ``points`` (N,3) world points;
    ``point_frames`` list of F int arrays: for each frame, indices into ``points`` it observes;
    ``reproj_error_px`` mean reprojection error; ``timings_s`` wall (``{step}_s``) and CPU
    (``{step}_cpu_s``) seconds per step (:func:`models.steptime.timed`).
    """

    K: np.ndarray
    cam2world: np.ndarray
    registered: np.ndarray
    points: np.ndarray
    point_frames: list[np.ndarray]
    reproj_error_px: float
    timings_s: dict[str, float] = field(default_factory=dict)


class SfmFailure(RuntimeError):
    """SfM produced no model (too few matches or no initial pair)."""


def _device(gpu: bool) -> pycolmap.Device:
    return pycolmap.Device.cuda if gpu and pycolmap.has_cuda else pycolmap.Device.cpu


def run_sfm(
    images: np.ndarray,
    workdir: Path,
    *,
    camera_model: str = "SIMPLE_PINHOLE",
    mapper: str = "global",
    max_features: int = 8192,
    threads: int = -1,
) -> SfmResult:
    """SfM of ``images`` (F,H,W,3) uint8 RGB with one shared camera, working in ``workdir``.

    Leaves ``workdir/images`` (the frames as PNG, ``{k:04d}.png``) and ``workdir/sparse`` (the
    chosen model in COLMAP's binary format) for a dense step. Raises SfmFailure when no model of
    ≥ 2 frames comes out, ValueError for a camera model recon.npz cannot store.
    """
    if camera_model not in ("SIMPLE_PINHOLE", "PINHOLE"):
        raise ValueError(f"camera_model {camera_model!r}: recon.npz stores pinhole intrinsics only")
    timings: dict[str, float] = {}
    names = image_names(len(images))
    with timed(timings, "features"):
        image_dir = workdir / "images"
        image_dir.mkdir(parents=True)
        for name, image in zip(names, images, strict=True):
            cv2.imwrite(str(image_dir / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        database = workdir / "database.db"
        gpu = pycolmap.has_cuda
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.num_threads = threads
        extraction.use_gpu = gpu
        extraction.sift.max_num_features = max_features
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = camera_model
        pycolmap.extract_features(
            database,
            image_dir,
            image_names=names,
            camera_mode=pycolmap.CameraMode.SINGLE,
            reader_options=reader,
            extraction_options=extraction,
            device=_device(gpu),
        )
    with timed(timings, "matching"):
        matching = pycolmap.FeatureMatchingOptions()
        matching.num_threads = threads
        matching.use_gpu = gpu
        pycolmap.match_exhaustive(database, matching_options=matching, device=_device(gpu))
    with timed(timings, "mapping"):
        models_dir = workdir / "models"
        models_dir.mkdir()
        if mapper == "global":
            options = pycolmap.GlobalPipelineOptions()
            options.num_threads = threads
            options.random_seed = 0
            models = pycolmap.global_mapping(database, image_dir, models_dir, options)
        else:
            options = pycolmap.IncrementalPipelineOptions()
            options.num_threads = threads
            options.random_seed = 0
            models = pycolmap.incremental_mapping(database, image_dir, models_dir, options)
    if not models:
        raise SfmFailure("COLMAP built no model (too few matches between frames)")
    rec = max(models.values(), key=lambda r: r.num_reg_images())
    if rec.num_reg_images() < 2:
        raise SfmFailure("COLMAP registered fewer than 2 frames")
    (workdir / "sparse").mkdir()
    rec.write(workdir / "sparse")
    return to_arrays(rec, names, timings)


def image_names(n: int) -> list[str]:
    """The file names SfM gives the frames of a clip (frame order)."""
    return [f"{i:04d}.png" for i in range(n)]


def to_arrays(
    rec: pycolmap.Reconstruction, names: list[str], timings: dict[str, float]
) -> SfmResult:
    """A pycolmap model → SfmResult (frames matched by file name)."""
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    cam2world = np.full((n, 4, 4), np.nan)
    registered = np.zeros(n, bool)
    point_ids = np.array(sorted(rec.point3D_ids()), dtype=np.int64)
    points = (
        np.stack([rec.points3D[int(p)].xyz for p in point_ids])
        if len(point_ids)
        else np.zeros((0, 3))
    )
    lookup = {int(p): j for j, p in enumerate(point_ids)}
    point_frames = [np.zeros(0, np.int64) for _ in range(n)]
    cameras = set()
    for image in rec.images.values():
        if not image.has_pose:
            continue
        i = index[image.name]
        world2cam = np.eye(4)
        world2cam[:3] = image.cam_from_world().matrix()
        cam2world[i] = np.linalg.inv(world2cam)
        registered[i] = True
        cameras.add(image.camera_id)
        seen = [lookup[p.point3D_id] for p in image.points2D if p.has_point3D()]
        point_frames[i] = np.asarray(sorted(set(seen)), np.int64)
    camera = rec.cameras[cameras.pop()]
    return SfmResult(
        K=np.asarray(camera.calibration_matrix(), np.float64),
        cam2world=cam2world,
        registered=registered,
        points=points,
        point_frames=point_frames,
        reproj_error_px=float(rec.compute_mean_reprojection_error()),
        timings_s=timings,
    )
