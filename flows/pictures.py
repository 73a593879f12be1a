"""Pictures of occupancy grids: an isometric voxel view in NYU colours, thumbnails, and a frame
beside its grid, all returned as PNG bytes (for the notebook and the run reports).

The voxel view is a painter's algorithm done with arrays: every visible voxel stamps a fixed
pixel sprite (top, +x and +y faces), and per pixel the fragment nearest the viewer wins.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from storage.formats import CLASS_NAMES, NUM_CLASSES

NYU_COLOURS = np.array(
    [
        [22, 191, 206],  # ceiling
        [214, 38, 40],  # floor
        [43, 160, 43],  # wall
        [158, 216, 229],  # window
        [114, 158, 206],  # chair
        [204, 204, 91],  # bed
        [255, 186, 119],  # sofa
        [147, 102, 188],  # table
        [30, 119, 181],  # tvs
        [160, 188, 33],  # furniture
        [255, 127, 12],  # objects
    ],
    np.uint8,
)
"""RGB of classes 1..11 (MonoScene's NYU palette); row i is class i + 1."""

FACE_SHADE = np.array([1.0, 0.78, 0.6], np.float32)
"""Brightness of the top, +x and +y faces."""
EDGE_SHADE = 0.8
BACKGROUND = 255


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an (H,W,3) uint8 image as PNG."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, np.uint8)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@lru_cache(maxsize=16)
def _sprite(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel offsets (du, dv), face id and edge flag of one unit cube's visible faces.

    Projection (2:1 isometric, integer steps): u = (x - y)·2k, v = (x + y)·k - z·2k, so cubes
    of a grid tile the picture without cracks.
    """
    a, b, c = 2 * k, k, 2 * k
    du, dv = np.meshgrid(np.arange(-a, a) + 0.5, np.arange(-c, 2 * b) + 0.5, indexing="xy")
    du, dv = du.ravel(), dv.ravel()
    # face coordinates (s, t) of each pixel centre on the top (z=1), +x (x=1) and +y (y=1) faces
    top = ((du / a + (dv + c) / b) / 2, ((dv + c) / b - du / a) / 2)
    xf = (1 - du / a, ((2 - du / a) * b - dv) / c)
    yf = (1 + du / a, ((2 + du / a) * b - dv) / c)
    faces = np.full(du.shape, -1)
    edge = np.zeros(du.shape, bool)
    margin = 0.45 / k if k >= 2 else 0.0  # about one pixel; no outlines on 1-pixel cubes
    for fid, (s, t) in enumerate((top, xf, yf)):
        inside = (s >= 0) & (s < 1) & (t >= 0) & (t < 1) & (faces < 0)
        faces[inside] = fid
        edge |= inside & ((s < margin) | (s > 1 - margin) | (t < margin) | (t > 1 - margin))
    keep = faces >= 0
    return (
        np.floor(du[keep]).astype(np.int64),
        np.floor(dv[keep]).astype(np.int64),
        faces[keep],
        edge[keep],
    )


def visible_voxels(target: np.ndarray, hide: tuple[int, ...] = (1,)) -> np.ndarray:
    """Indices (N,3) of shown voxels (classes 1..11 not in `hide`) with a face open to the
    viewer at +x+y+z: a voxel boxed in on those three sides cannot be seen."""
    shown = (target >= 1) & (target <= NUM_CLASSES) & ~np.isin(target, hide)
    padded = np.pad(shown, ((0, 1), (0, 1), (0, 1)))
    covered = padded[1:, :-1, :-1] & padded[:-1, 1:, :-1] & padded[:-1, :-1, 1:]
    return np.argwhere(shown & ~covered)


def render_grid(
    target: np.ndarray, size: int = 512, hide: tuple[int, ...] = (1,), azimuth: int = 0
) -> np.ndarray:
    """An isometric picture (H,W,3) uint8 of grid `target` [x,y,z], about `size` px wide.

    Classes in `hide` are left out (the ceiling by default, to see into the room); `azimuth`
    turns the grid by 90° steps about z.
    """
    grid = np.rot90(np.asarray(target), k=azimuth % 4, axes=(0, 1))
    nx, ny, nz = grid.shape
    k = max(1, int(size // (2 * (nx + ny))))
    du, dv, face, edge = _sprite(k)
    width, height = 2 * k * (nx + ny), k * (nx + ny) + 2 * k * nz
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    vox = visible_voxels(grid, hide)
    if len(vox) == 0:
        return canvas
    x, y, z = vox.T
    u0 = (x - y) * 2 * k + 2 * k * ny
    v0 = (x + y) * k - z * 2 * k + 2 * k * nz
    us = (u0[:, None] + du[None]).ravel()
    vs = (v0[:, None] + dv[None]).ravel()
    depth = np.repeat(x + y + z, len(du))
    pixel = vs * width + us
    order = np.lexsort((-depth, pixel))  # per pixel, nearest fragment first
    first = order[np.unique(pixel[order], return_index=True)[1]]
    vid, sid = np.divmod(first, len(du))
    shade = FACE_SHADE[face[sid]] * np.where(edge[sid], EDGE_SHADE, 1.0)
    colour = NYU_COLOURS[grid[x[vid], y[vid], z[vid]] - 1].astype(np.float32) * shade[:, None]
    canvas.reshape(-1, 3)[pixel[first]] = np.clip(colour, 0, 255).astype(np.uint8)
    return canvas


def render_grid_png(
    target: np.ndarray, size: int = 512, hide: tuple[int, ...] = (1,), azimuth: int = 0
) -> bytes:
    """:func:`render_grid` as PNG bytes."""
    return png_bytes(render_grid(target, size, hide, azimuth))


def as_rgb(image: np.ndarray | str | os.PathLike[str]) -> np.ndarray:
    """An (H,W,3) uint8 image from a file, a uint8 array, or a float array in [0,1] (HWC or CHW)."""
    if isinstance(image, str | os.PathLike):
        with Image.open(Path(image)) as im:
            return np.asarray(im.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"image of shape {arr.shape} is not RGB (H,W,3) or (3,H,W)")
    if arr.dtype != np.uint8:
        arr = np.clip(np.asarray(arr, np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)
    return arr


def thumbnail(image: np.ndarray | str | os.PathLike[str], max_side: int) -> np.ndarray:
    """`image` shrunk (never enlarged) so its longer side is at most `max_side`."""
    im = Image.fromarray(as_rgb(image))
    im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return np.asarray(im)


def thumbnail_png(image: np.ndarray | str | os.PathLike[str], max_side: int = 256) -> bytes:
    """:func:`thumbnail` as PNG bytes (small enough to embed in a markdown artifact)."""
    return png_bytes(thumbnail(image, max_side))


def _legend(classes: np.ndarray, height: int) -> np.ndarray:
    """A column of colour swatches and names for `classes` (ids 1..11)."""
    row = 16
    im = Image.new("RGB", (110, max(height, row * len(classes) + 8)), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(im)
    for i, cid in enumerate(classes):
        top = 4 + i * row
        draw.rectangle((4, top, 16, top + 11), fill=tuple(int(c) for c in NYU_COLOURS[cid - 1]))
        draw.text((22, top), CLASS_NAMES[cid - 1], fill=(0, 0, 0))
    return np.asarray(im)


def frame_beside_grid(
    image: np.ndarray | str | os.PathLike[str],
    target: np.ndarray,
    height: int = 240,
    hide: tuple[int, ...] = (1,),
) -> np.ndarray:
    """The RGB frame, its grid's isometric picture and a legend side by side, `height` px high."""
    frame = Image.fromarray(as_rgb(image))
    frame = frame.resize(
        (max(1, round(frame.width * height / frame.height)), height), Image.Resampling.BILINEAR
    )
    grid = Image.fromarray(render_grid(target, size=2 * height, hide=hide))
    grid = grid.resize(
        (max(1, round(grid.width * height / grid.height)), height), Image.Resampling.BILINEAR
    )
    present = np.unique(target)
    classes = present[(present >= 1) & (present <= NUM_CLASSES) & ~np.isin(present, hide)]
    legend = _legend(classes, height)[:height]
    gap = np.full((height, 8, 3), BACKGROUND, np.uint8)
    return np.concatenate([np.asarray(frame), gap, np.asarray(grid), gap, legend], axis=1)


def frame_beside_grid_png(
    image: np.ndarray | str | os.PathLike[str],
    target: np.ndarray,
    height: int = 240,
    hide: tuple[int, ...] = (1,),
) -> bytes:
    """:func:`frame_beside_grid` as PNG bytes."""
    return png_bytes(frame_beside_grid(image, target, height, hide))
