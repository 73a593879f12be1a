"""Dense depth with COLMAP's PatchMatch stereo (CUDA builds of pycolmap only, e.g. pycolmap-cuda12).

Owns the GPU dense half of the ``colmap`` reconstruct backend: the SfM workspace is undistorted
into an MVS workspace, PatchMatch runs with geometric consistency, and each frame's
``geometric`` depth map is brought back to the stored frame size. Method: Schönberger et al.,
"Pixelwise View Selection for Unstructured Multi-View Stereo", ECCV 2016.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pycolmap


def available() -> bool:
    """Whether this pycolmap build can run PatchMatch (it needs CUDA)."""
    return bool(pycolmap.has_cuda)


def patch_match_depth(
    workdir: Path, names: list[str], size: tuple[int, int], min_angle_deg: float
) -> np.ndarray:
    """Z-depth (F,H,W) float32 of the frames ``names`` (0 where unknown) at ``size`` (H, W).

    ``workdir`` holds ``images/`` and ``sparse/`` as :func:`colmap_sfm.run_sfm` leaves them.
    Raises RuntimeError when pycolmap has no CUDA.
    """
    if not available():
        raise RuntimeError("PatchMatch stereo needs a CUDA build: pip install pycolmap-cuda12")
    mvs = workdir / "mvs"
    pycolmap.undistort_images(mvs, workdir / "sparse", workdir / "images")
    options = pycolmap.PatchMatchOptions()
    options.geom_consistency = True
    options.min_triangulation_angle = min_angle_deg
    pycolmap.patch_match_stereo(mvs, options=options)
    h, w = size
    depth = np.zeros((len(names), h, w), np.float32)
    for i, name in enumerate(names):
        path = mvs / "stereo" / "depth_maps" / f"{name}.geometric.bin"
        if not path.exists():
            continue
        dm = pycolmap.DepthMap()
        dm.read(path)
        depth[i] = cv2.resize(dm.to_array(), (w, h), interpolation=cv2.INTER_NEAREST)
    return np.maximum(depth, 0)
