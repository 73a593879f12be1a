"""`ytocc reconstruct-images FRAMES_DIR OUT.npz`: a folder of frames → recon.npz, no data root."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench import icl
from flows.cli import _register, app
from models.reconstructors import patchmatch
from storage.formats import read_recon

_register()
runner = CliRunner()


def _frames(folder: Path, sizes: list[tuple[int, int]]) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8)).save(folder / f"{i:04d}.png")
    return folder


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: _frames(d, [(40, 60)]), "1 image(s)"),
        (lambda d: _frames(d, [(40, 60), (40, 62)]), "0001.png: 62×40 differs from 0000.png"),
        (lambda d: d, "not a folder of frames"),
    ],
    ids=["one-image", "sizes-differ", "missing-folder"],
)
def test_bad_frame_folders_end_with_one_error_line(tmp_path: Path, make, message: str) -> None:
    folder = make(tmp_path / "frames")
    result = runner.invoke(app, ["reconstruct-images", str(folder), str(tmp_path / "r.npz")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r.npz").exists()


def test_an_unreadable_image_is_named(tmp_path: Path) -> None:
    folder = _frames(tmp_path / "frames", [(40, 60), (40, 60)])
    (folder / "0002.jpg").write_bytes(b"not a jpeg")
    result = runner.invoke(app, ["reconstruct-images", str(folder), str(tmp_path / "r.npz")])
    assert result.exit_code == 2 and "0002.jpg: not a readable image" in result.output


def test_a_clip_colmap_cannot_reconstruct_fails_with_the_reason(tmp_path: Path) -> None:
    folder = _frames(tmp_path / "frames", [(120, 160)] * 4)  # noise: nothing matches
    args = ["reconstruct-images", str(folder), str(tmp_path / "r.npz"), "--set",
            "reconstruct.backend=colmap"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "COLMAP" in result.output
    assert not (tmp_path / "r.npz").exists()


@pytest.mark.slow  # COLMAP on 8 real frames: 15-50 s
def test_colmap_reconstructs_the_icl_subset(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    shutil.copytree(icl.SUBSET / "rgb", frames)
    out = tmp_path / "recon.npz"
    args = ["reconstruct-images", str(frames), str(out), "--set", "reconstruct.backend=colmap"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    recon = read_recon(out)
    assert recon["K"].shape == (8, 3, 3) and recon["depth"].shape == (8, 480, 640)
    assert recon["registered"].all() and '"registered_frames": 8' in result.output


@pytest.mark.skipif(patchmatch.available(), reason="this pycolmap build has CUDA")
def test_patch_match_on_a_cpu_build_is_one_line_naming_the_install(tmp_path: Path) -> None:
    folder = _frames(tmp_path / "frames", [(120, 160)] * 3)
    args = ["reconstruct-images", str(folder), str(tmp_path / "r.npz"), "--set",
            "reconstruct.backend=colmap", "--set", "reconstruct.colmap.dense=patch-match"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("error: ") and "pip install pycolmap-cuda12" in result.output
    assert not (tmp_path / "r.npz").exists()


def test_synthetic_gt_takes_one_tour_and_refuses_a_folder_of_tours(tmp_path: Path) -> None:
    """Frames with no data root have no video to match a truth by: one tour is used as is, a
    folder of several tours is one error line (it could hand the frames another tour's truth)."""
    from tests.support.truth_room import write_room_tour

    write_room_tour(tmp_path / "tours" / "a", n_frames=4)
    write_room_tour(tmp_path / "tours" / "b", n_frames=4, size=(96, 72))  # other video bytes
    folder = _frames(tmp_path / "frames", [(120, 160)] * 4)
    out = tmp_path / "r.npz"

    def run(truth_dir: Path):
        args = ["reconstruct-images", str(folder), str(out), "--set", f"truth_dir={truth_dir}",
                "--set", "reconstruct.backend=synthetic-gt"]  # fmt: skip
        return runner.invoke(app, args)

    assert run(tmp_path / "tours" / "a").exit_code == 0 and out.exists()
    out.unlink()
    result = run(tmp_path / "tours")
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: ") and "holds 2 tours" in result.output
    assert "name one tour's folder" in result.output and not out.exists()
