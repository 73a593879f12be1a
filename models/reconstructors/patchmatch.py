"""Dense depth with COLMAP's PatchMatch stereo (CUDA builds of pycolmap only, e.g. pycolmap-cuda12).

Owns the GPU dense half of the ``colmap`` reconstruct backend: the SfM workspace is undistorted
into an MVS workspace (:func:`prepare_workspace`, runs on CPU builds too), PatchMatch runs with
geometric consistency (the only step that needs CUDA), and each frame's ``geometric`` depth map
is brought back to the stored frame size (:func:`read_depth_maps`, CPU). The options handed to
pycolmap are built by name from :data:`OPTIONS` onto pycolmap's own ``PatchMatchOptions``, so a
renamed option fails on any build, GPU or not. Method: Schönberger et al., "Pixelwise View
Selection for Unstructured Multi-View Stereo", ECCV 2016.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pycolmap

INSTALL = "pip uninstall -y pycolmap && pip install pycolmap-cuda12==4.2.1"
"""The CUDA build of the same pycolmap version (same ``import pycolmap``)."""
OPTIONS: dict[str, Any] = {"geom_consistency": True}
"""PatchMatchOptions set by name beyond the triangulation angle (geometric consistency: the
``geometric`` depth maps, filtered by their neighbours' depths)."""


class NeedsCuda(RuntimeError):
    """PatchMatch was asked for on a pycolmap build without CUDA."""


def available() -> bool:
    """Whether this pycolmap build can run PatchMatch (it needs CUDA)."""
    return bool(pycolmap.has_cuda)


def require() -> None:
    """Raise NeedsCuda (one line naming the install command) unless PatchMatch can run here."""
    if not available():
        raise NeedsCuda(f"PatchMatch stereo needs a CUDA build of pycolmap: {INSTALL}")


def patch_match_options(min_angle_deg: float) -> pycolmap.PatchMatchOptions:
    """pycolmap's PatchMatchOptions with :data:`OPTIONS` and the minimum triangulation angle.

    Raises AttributeError naming the option when pycolmap has no option of that name.
    """
    options = pycolmap.PatchMatchOptions()
    for name, value in {**OPTIONS, "min_triangulation_angle": min_angle_deg}.items():
        if not hasattr(options, name):
            raise AttributeError(f"pycolmap.PatchMatchOptions has no option {name!r}")
        setattr(options, name, value)
    return options


def prepare_workspace(workdir: Path) -> Path:
    """Undistort ``workdir``'s SfM model and images into ``workdir/mvs`` (an MVS workspace)."""
    mvs = workdir / "mvs"
    pycolmap.undistort_images(mvs, workdir / "sparse", workdir / "images")
    return mvs


def read_depth_maps(mvs: Path, names: list[str], size: tuple[int, int]) -> np.ndarray:
    """Z-depth (F,H,W) float32 of ``names``' geometric depth maps at ``size`` (0 where none)."""
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


def patch_match_depth(
    workdir: Path, names: list[str], size: tuple[int, int], min_angle_deg: float
) -> np.ndarray:
    """Z-depth (F,H,W) float32 of the frames ``names`` (0 where unknown) at ``size`` (H, W).

    ``workdir`` holds ``images/`` and ``sparse/`` as :func:`colmap_sfm.run_sfm` leaves them.
    Raises NeedsCuda when pycolmap has no CUDA.
    """
    require()
    options = patch_match_options(min_angle_deg)
    mvs = prepare_workspace(workdir)
    pycolmap.patch_match_stereo(mvs, options=options)
    return read_depth_maps(mvs, names, size)
