"""Grid pictures: NYU colours, occlusion, hidden classes, thumbnails, frame beside grid."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from flows.pictures import (
    BACKGROUND,
    FACE_SHADE,
    NYU_COLOURS,
    frame_beside_grid_png,
    render_grid,
    render_grid_png,
    thumbnail_png,
    visible_voxels,
)
from storage.config import GRID_DIMS
from tests.support.tiny_dataset import room_grid


def _decode(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _has_colour(img: np.ndarray, rgb: np.ndarray) -> bool:
    return bool((np.abs(img.astype(int) - rgb.astype(int)).sum(-1) <= 3).any())


def test_render_shows_each_class_in_its_nyu_colour():
    img = _decode(render_grid_png(room_grid(0), size=480))
    for cid in (2, 3, 5, 8):  # floor, wall, chair, table: top faces at full brightness
        assert _has_colour(img, NYU_COLOURS[cid - 1]), cid
    assert not _has_colour(img, NYU_COLOURS[6 - 1])  # no bed in the grid


def test_empty_grid_renders_blank_and_unknown_is_not_drawn():
    grid = np.full(GRID_DIMS, 255, np.uint8)
    grid[:10] = 0
    img = render_grid(grid, size=240)
    assert (img == BACKGROUND).all()


def test_ceiling_hidden_by_default_and_shown_on_request():
    grid = np.zeros(GRID_DIMS, np.uint8)
    grid[:, :, 0] = 2
    grid[:, :, 35] = 1
    default = render_grid(grid, size=240)
    assert _has_colour(default, NYU_COLOURS[1]) and not _has_colour(default, NYU_COLOURS[0])
    shown = render_grid(grid, size=240, hide=())
    assert _has_colour(shown, NYU_COLOURS[0])
    floor = NYU_COLOURS[1].astype(int)
    assert (shown.astype(int) == floor).all(-1).sum() < (default.astype(int) == floor).all(-1).sum()


def test_nearer_voxel_occludes_farther_one():
    grid = np.zeros((4, 4, 4), np.uint8)
    grid[0, 0, 0] = 2  # far corner
    alone = render_grid(grid, size=64)
    grid[1, 1, 1] = 5  # directly in front of it along the view direction
    both = render_grid(grid, size=64)
    assert _has_colour(alone, NYU_COLOURS[1])
    assert not _has_colour(both, NYU_COLOURS[1] * FACE_SHADE[0])  # floor top face fully covered
    assert _has_colour(both, NYU_COLOURS[4])


def test_fully_enclosed_voxels_are_culled():
    grid = np.full((5, 5, 5), 3, np.uint8)
    vis = visible_voxels(grid, hide=())
    assert len(vis) == 5**3 - 4**3
    assert (vis.max(axis=1) == 4).all()


def test_azimuth_turns_the_picture():
    grid = np.zeros((8, 8, 4), np.uint8)
    grid[0, :, :] = 3
    assert not np.array_equal(render_grid(grid, 64), render_grid(grid, 64, azimuth=1))
    assert np.array_equal(render_grid(grid, 64), render_grid(grid, 64, azimuth=4))


def test_thumbnail_keeps_aspect_and_never_enlarges():
    image = np.random.default_rng(0).random((3, 120, 160)).astype(np.float32)  # CHW in [0,1]
    assert _decode(thumbnail_png(image, 80)).shape == (60, 80, 3)
    assert _decode(thumbnail_png(image, 1000)).shape == (120, 160, 3)
    with pytest.raises(ValueError, match="not RGB"):
        thumbnail_png(np.zeros((5, 5)), 10)


def test_frame_beside_grid_is_frame_then_picture(tmp_path):
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[..., 2] = 200
    path = tmp_path / "f.png"
    Image.fromarray(frame).save(path)
    img = _decode(frame_beside_grid_png(path, room_grid(0), height=120))
    assert img.shape[0] == 120
    assert (img[:, :160, 2] >= 195).all() and (img[:, :160, :2] <= 5).all()
    assert _has_colour(img[:, 160:], NYU_COLOURS[1])
