"""Scene descriptions of the synthetic tour (rooms and one outdoor view) and their meshes.

A scene is a JSON-able dict (what ``truth/rooms.json`` stores): ``{"index", "indoor", "size":
[W, D, H], "boxes": [{"name", "label", "min", "max", "tint"}]}``. Indoor rooms span
[0, W] × [0, D] × [0, H] in a z-up metric world (floor z = 0); the shell (floor, ceiling, four
walls) is implied by ``size``; windows, the TV and furniture are boxes. Furniture stands in a
band of at most ``BAND`` metres along the walls so the middle of the room stays free for the
camera. The outdoor scene has a ground plane, a house facade and box trees, all label 0.
`scene_mesh` turns a scene into one triangle mesh with a NYU label and a tint per triangle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import open3d as o3d

CEILING = 2.8
"""Ceiling height of every room (the wall height align assumes)."""
BAND = 1.1
"""Furniture stays within this distance of the walls."""
CEILING_ID, FLOOR_ID, WALL_ID, WINDOW_ID = 1, 2, 3, 4
CHAIR, BED, SOFA, TABLE, TV, FURNITURE, OBJECTS = 5, 6, 7, 8, 9, 10, 11

# unit cube corners and its 12 triangles, outward normals
_CUBE_V = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float64)
_CUBE_T = np.array(
    [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]],
    np.int32,
)  # fmt: skip


def _box(name: str, label: int, lo, hi, rng: np.random.Generator, tint=None) -> dict[str, Any]:
    tint = rng.uniform(0.35, 1.0, 3) if tint is None else np.asarray(tint)
    return {
        "name": name,
        "label": int(label),
        "min": [round(float(v), 4) for v in lo],
        "max": [round(float(v), 4) for v in hi],
        "tint": [round(float(v), 3) for v in tint],
    }


def _along_wall(wall: int, size, t: float, length: float, depth: float, height: float, z0=0.0):
    """Box corners of a piece of `length` × `depth` against `wall` (0:y=0 1:x=W 2:y=D 3:x=0)."""
    w, d = size[0], size[1]
    if wall == 0:
        return (t, 0.0, z0), (t + length, depth, z0 + height)
    if wall == 1:
        return (w - depth, t, z0), (w, t + length, z0 + height)
    if wall == 2:
        return (t, d - depth, z0), (t + length, d, z0 + height)
    return (0.0, t, z0), (depth, t + length, z0 + height)


def make_room(index: int, rng: np.random.Generator) -> dict[str, Any]:
    """A random furnished room 3.5–6 m a side: bed, sofa, table, chairs, objects, TV, cabinets."""
    size = [round(float(rng.uniform(3.5, 6.0)), 4), round(float(rng.uniform(3.5, 6.0)), 4), CEILING]
    w, d = size[0], size[1]
    walls = rng.permutation(4)
    span = [w, d, w, d]
    boxes = []
    wb, ws, wt, wc = (int(x) for x in walls)
    # bed or sofa on one wall, a sofa on another, a cabinet + TV on the third, table on the fourth
    length = min(2.0, span[wb] - 0.6)
    t = float(rng.uniform(0.2, span[wb] - length - 0.2))
    lo, hi = _along_wall(wb, size, t, length, 1.0, 0.5)
    boxes.append(_box("bed", BED, lo, hi, rng))
    lo, hi = _along_wall(wb, size, t + 0.1, length - 0.2, 0.35, 0.25, 0.5)
    boxes.append(_box("pillows", OBJECTS, lo, hi, rng))
    length = min(1.8, span[ws] - 0.6)
    t = float(rng.uniform(0.2, span[ws] - length - 0.2))
    lo, hi = _along_wall(ws, size, t, length, 0.9, 0.45)
    boxes.append(_box("sofa seat", SOFA, lo, hi, rng))
    lo, hi = _along_wall(ws, size, t, length, 0.25, 0.45, 0.45)
    boxes.append(_box("sofa back", SOFA, lo, hi, rng))
    length = min(1.4, span[wt] - 0.8)
    t = float(rng.uniform(0.3, span[wt] - length - 0.3))
    lo, hi = _along_wall(wt, size, t, length, 0.45, 0.6)
    boxes.append(_box("cabinet", FURNITURE, lo, hi, rng))
    lo, hi = _along_wall(wt, size, t + 0.1, length - 0.2, 0.06, 0.7, 1.0)
    boxes.append(_box("tv", TV, lo, hi, rng))
    lo, hi = _along_wall(wt, size, 0.05, 0.5, 0.4, 1.9)
    boxes.append(_box("wardrobe", FURNITURE, lo, hi, rng))
    length = min(1.2, span[wc] - 1.0)
    t = float(rng.uniform(0.5, span[wc] - length - 0.5))
    lo, hi = _along_wall(wc, size, t, length, 0.8, 0.75)
    boxes.append(_box("table", TABLE, lo, hi, rng))
    lo, hi = _along_wall(wc, size, t + 0.2, 0.25, 0.2, 0.12, 0.75)
    boxes.append(_box("book", OBJECTS, lo, hi, rng))
    lo, hi = _along_wall(wc, size, t + length - 0.4, 0.2, 0.25, 0.3, 0.75)
    boxes.append(_box("vase", OBJECTS, lo, hi, rng))
    for k, off in enumerate((-0.45, length + 0.05)):
        lo, hi = _along_wall(wc, size, t + off, 0.4, 0.45, 0.9)
        lo, hi = np.asarray(lo), np.asarray(hi)
        shift = {0: [0, 0.25, 0], 1: [-0.25, 0, 0], 2: [0, -0.25, 0], 3: [0.25, 0, 0]}[wc]
        boxes.append(_box(f"chair {k}", CHAIR, lo + shift, hi + shift, rng))
    # a window on each of two walls, protruding 2 cm into the room
    for k, wall in enumerate(rng.choice(4, 2, replace=False)):
        length = min(1.2, span[int(wall)] - 1.0)
        t = float(rng.uniform(0.5, span[int(wall)] - length - 0.5))
        lo, hi = _along_wall(int(wall), size, t, length, 0.02, 1.1, 1.0)
        boxes.append(_box(f"window {k}", WINDOW_ID, lo, hi, rng, (0.75, 0.88, 1.0)))
    tint = [round(float(v), 3) for v in rng.uniform(0.5, 1.0, (3, 3)).ravel()]
    return {"index": index, "indoor": True, "size": size, "boxes": boxes, "shell_tint": tint}


def make_outdoor(index: int, rng: np.random.Generator) -> dict[str, Any]:
    """A garden view: a ground plane, a house facade with windows and a few box trees."""
    boxes = [_box("ground", 0, (-30, -30, -0.1), (30, 30, 0.0), rng, (0.35, 0.7, 0.3))]
    boxes.append(_box("facade", 0, (-6, 9, 0), (6, 10, 6), rng))
    for k in range(4):
        x = -4.5 + 3 * k
        boxes.append(_box(f"facade window {k}", 0, (x, 8.95, 1.2), (x + 1.2, 9, 2.6), rng))
    for k in range(5):
        x, y = rng.uniform(-8, 8), rng.uniform(4, 7)
        boxes.append(
            _box(f"trunk {k}", 0, (x, y, 0), (x + 0.3, y + 0.3, 2.0), rng, (0.5, 0.35, 0.2))
        )
        boxes.append(
            _box(
                f"crown {k}",
                0,
                (x - 0.8, y - 0.8, 2.0),
                (x + 1.1, y + 1.1, 3.6),
                rng,
                (0.2, 0.6, 0.2),
            )
        )
    return {"index": index, "indoor": False, "size": [0.0, 0.0, 0.0], "boxes": boxes}


def _shell(size) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, inward-facing triangles and labels of the floor, ceiling and four walls."""
    v = _CUBE_V * np.asarray(size, np.float64)
    tris = _CUBE_T[:, ::-1]  # flipped winding: normals face into the room
    lab = np.array([WALL_ID] * 8 + [FLOOR_ID, FLOOR_ID, CEILING_ID, CEILING_ID], np.uint8)
    return v, tris, lab


def scene_mesh(scene: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (V,3), triangles (T,3), NYU label per triangle (T,) and tint per triangle (T,3)."""
    verts, tris, labs, tints = [], [], [], []
    n = 0
    if scene["indoor"]:
        v, t, lab = _shell(scene["size"])
        shell_tint = np.asarray(scene["shell_tint"], np.float32).reshape(3, 3)
        verts.append(v)
        tris.append(t)
        labs.append(lab)
        tints.append(shell_tint[np.minimum(lab, 3) - 1])
        n = len(v)
    for box in scene["boxes"]:
        lo, hi = np.asarray(box["min"]), np.asarray(box["max"])
        verts.append(lo + _CUBE_V * (hi - lo))
        tris.append(_CUBE_T + n)
        labs.append(np.full(12, box["label"], np.uint8))
        tints.append(np.tile(np.asarray(box["tint"], np.float32), (12, 1)))
        n += 8
    return (
        np.concatenate(verts).astype(np.float32),
        np.concatenate(tris).astype(np.int32),
        np.concatenate(labs),
        np.concatenate(tints),
    )


def raycasting_scene(v: np.ndarray, t: np.ndarray) -> o3d.t.geometry.RaycastingScene:
    """An Open3D ray-casting scene of `scene_mesh`'s vertices and triangles (primitive ids
    index its triangles)."""
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(v), o3d.core.Tensor(t.astype(np.uint32)))
    return rc


def inside_boxes(scene: dict[str, Any], points: np.ndarray, margin: float) -> np.ndarray:
    """Which points lie within `margin` of any box of the scene (bool (N,))."""
    lo = np.array([b["min"] for b in scene["boxes"]]) - margin
    hi = np.array([b["max"] for b in scene["boxes"]]) + margin
    p = np.asarray(points)[:, None, :]
    return np.any(np.all((p >= lo) & (p <= hi), axis=2), axis=1)
