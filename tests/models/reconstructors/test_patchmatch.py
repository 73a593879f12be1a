"""The PatchMatch (CUDA) dense path, exercised as far as a CPU build of pycolmap allows: the
options against pycolmap's real option object, the MVS workspace, the depth-map reader, and the
one-line failure when PatchMatch is asked for without CUDA."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import pycolmap
import pytest

from bench import icl
from models.reconstructors import colmap, colmap_sfm, patchmatch
from storage.config import ColmapConfig
from storage.markers import StageFailure


def test_options_are_pycolmaps_own() -> None:
    options = patchmatch.patch_match_options(1.5)
    assert isinstance(options, pycolmap.PatchMatchOptions)
    assert options.geom_consistency is True
    assert options.min_triangulation_angle == pytest.approx(1.5)


def test_a_renamed_option_is_caught_on_any_build(monkeypatch) -> None:
    """pycolmap renames options between versions; the CUDA call is the only place they were
    used, so a rename went unnoticed on CPU builds."""
    monkeypatch.setattr(patchmatch, "OPTIONS", {"geometric_consistency": True})
    with pytest.raises(AttributeError, match="no option 'geometric_consistency'"):
        patchmatch.patch_match_options(1.0)


@pytest.mark.skipif(patchmatch.available(), reason="this pycolmap build has CUDA")
def test_patch_match_without_cuda_fails_at_once_naming_the_install() -> None:
    # noise frames: SfM would fail with "COLMAP built no model"; the CUDA check comes first
    noise = np.random.default_rng(0).integers(0, 256, (3, 60, 80, 3), np.uint8)
    with pytest.raises(StageFailure) as err:
        colmap.reconstruct_images(noise, ColmapConfig(dense="patch-match", threads=1))
    assert "pip install pycolmap-cuda12==" in err.value.reason
    assert err.value.reason.startswith("reconstruct.colmap.dense=patch-match: ")
    assert "\n" not in err.value.reason


def test_workspace_and_depth_maps_work_without_cuda() -> None:
    """Everything around the CUDA call: SfM workspace → undistorted MVS workspace, and COLMAP's
    binary depth maps read back at the stored frame size."""
    sub = icl.load(icl.SUBSET, icl.frame_ids(icl.SUBSET)[:3])
    small = np.stack(
        [cv2.resize(im, (320, 240), interpolation=cv2.INTER_AREA) for im in sub["images"]]
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        colmap_sfm.run_sfm(small, work, threads=1)
        mvs = patchmatch.prepare_workspace(work)
        names = colmap_sfm.image_names(3)
        assert (mvs / "stereo" / "patch-match.cfg").exists()
        assert all((mvs / "images" / n).exists() for n in names)
        truth = np.linspace(1.0, 3.0, 240 * 320, dtype=np.float32).reshape(240, 320)
        maps = mvs / "stereo" / "depth_maps"
        maps.mkdir(parents=True, exist_ok=True)
        pycolmap.DepthMap.from_array(truth, 1.0, 3.0).write(maps / f"{names[1]}.geometric.bin")
        depth = patchmatch.read_depth_maps(mvs, names, (480, 640))
    assert depth.shape == (3, 480, 640)
    assert not depth[0].any() and not depth[2].any()  # no map: no depth
    np.testing.assert_allclose(depth[1][::2, ::2], truth, rtol=1e-6)  # nearest upsampling
