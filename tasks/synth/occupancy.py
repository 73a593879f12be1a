"""The TRUE occupancy grid of a tour frame, from the scene's geometry itself.

Nothing here shares code with the voxelize stage (no back-projection of a depth map, no
majority grid, no projective free-space test): the grid is decided by the meshes of the scene
(rebuilt from ``rooms.json``) and exact ray casting against them (Open3D ``RaycastingScene``),
in the grid frame (the truth world mapped by ``world_from_truth``, a similarity).

Rule, for frame i of the tour and each voxel (an axis-aligned cube of the grid):
1. *Occupied*: a mesh triangle intersects the cube (the separating-axis triangle-box test of
   Akenine-Möller, exact up to float rounding; cubes half-open like point binning).
2. *Seen*: the camera sees into an occupied voxel when a ray through a pixel of a grid
   ``SUPERSAMPLE`` times finer than the video first hits the mesh inside the cube, or when the
   ray from the camera to the cube's centre reaches it unobstructed. A seen occupied voxel
   holding a NYU-classed surface gets the class most of its ray hits carry (ties → smaller id;
   with no ray hit: the smallest class of the triangles crossing it). Surfaces without a class
   (the outdoor view's ground, facade, trees) are occupied but unclassed: unknown.
3. *Free* (0): an unoccupied voxel whose centre lies in the frame's view (projects inside the
   video frame, in front of the camera) and is reached by the ray from the camera centre before
   anything is hit (sky included: the camera sees through empty space to infinity).
4. Every other voxel is 255 (unknown): behind surfaces, outside the view, unseen surfaces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open3d as o3d

from storage.config import GRID_DIMS, VOXEL_SIZE
from storage.formats import FREE, NUM_CLASSES, UNKNOWN
from storage.truth import read_rooms, read_shots, read_truth_frame, truth_folder
from tasks.synth.scene import raycasting_scene, scene_mesh

SUPERSAMPLE = 2


def frame_scene(truth_dir: Path, video_frame: int) -> dict:
    """The scene description of the shot holding `video_frame`."""
    shot = next(
        (s for s in read_shots(truth_dir) if s.start_frame <= video_frame < s.end_frame), None
    )
    if shot is None:
        raise ValueError(f"video frame {video_frame} is in no shot of {truth_dir}")
    return read_rooms(truth_dir)[shot.room]


def triangle_box_overlap(tri: np.ndarray, centres: np.ndarray, half: float) -> np.ndarray:
    """Which axis-aligned cubes (centres (N,3), half side `half`) the triangle tri (3,3) meets.

    The separating-axis test (Akenine-Möller 2001): the cube's 3 face normals, the triangle's
    normal and the 9 cross products of cube axes and triangle edges; no separating axis ⇔
    overlap. Cubes are half-open, [c − half, c + half) on each axis, as points are binned
    (floor): a face lying on a voxel boundary belongs to the voxel above it. Returns bool (N,).
    """
    v = tri[None, :, :] - centres[:, None, :]  # (N,3 vertices,3)
    edges = np.stack([tri[1] - tri[0], tri[2] - tri[1], tri[0] - tri[2]])
    hit = np.all((v.min(1) < half) & (v.max(1) >= -half), axis=1)  # cube face normals
    normal = np.cross(edges[0], edges[1])
    hit &= np.abs(v[:, 0] @ normal) <= half * np.abs(normal).sum()  # triangle plane
    for axis in np.eye(3):
        for e in edges:
            a = np.cross(axis, e)
            r = half * np.abs(a).sum()
            if r == 0:
                continue
            p = v @ a  # (N,3)
            hit &= (p.min(1) <= r) & (p.max(1) >= -r)
    return hit


def _grid_centres(origin: np.ndarray, size: float, dims: tuple[int, int, int]) -> np.ndarray:
    idx = np.indices(dims).reshape(3, -1).T
    return (np.asarray(origin, np.float64) + (idx + 0.5) * size).astype(np.float64)


def occupied_classes(
    verts: np.ndarray,
    tris: np.ndarray,
    labels: np.ndarray,
    origin: np.ndarray,
    size: float,
    dims: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Voxels each triangle crosses: any (V,) bool and classes (V, 12) bool (column 0: no class).

    Candidates are the voxels within half a cube diagonal of the mesh (Open3D distance query),
    then each triangle's separating-axis test runs on the candidates in its bounding box.
    """
    centres = _grid_centres(origin, size, dims)
    rc = raycasting_scene(verts.astype(np.float32), tris)
    dist = rc.compute_distance(o3d.core.Tensor(centres.astype(np.float32))).numpy()
    cand = np.flatnonzero(dist <= size * (np.sqrt(3) / 2) * 1.001)
    classes = np.zeros((centres.shape[0], NUM_CLASSES + 1), bool)
    c = centres[cand]
    half = size / 2
    for t, lab in zip(verts[tris].astype(np.float64), labels, strict=True):
        near = np.all((c >= t.min(0) - half) & (c <= t.max(0) + half), axis=1)
        if near.any():
            sel = cand[near]
            classes[sel[triangle_box_overlap(t, centres[sel], half)], int(lab)] = True
    return classes.any(1), classes


def _rays(origin: np.ndarray, dirs: np.ndarray) -> o3d.core.Tensor:
    return o3d.core.Tensor(
        np.concatenate([np.broadcast_to(origin, dirs.shape), dirs], 1).astype(np.float32)
    )


def truth_occupancy(
    truth_dir: Path,
    video_frame: int,
    voxel_origin: np.ndarray,
    voxel_size: float = VOXEL_SIZE,
    dims: tuple[int, int, int] = GRID_DIMS,
    world_from_truth: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 grid of `dims` by the rule of the module docstring (0 free, 1..11, 255 unknown).

    `voxel_origin` (3,) and `voxel_size` are in the grid frame; `world_from_truth` (4,4) maps the
    tour's truth world (metres) into it (default: the identity).
    """
    folder = truth_folder(Path(truth_dir))
    frame = read_truth_frame(folder, video_frame)
    T = np.eye(4) if world_from_truth is None else np.asarray(world_from_truth, np.float64)
    v, t, labels, _ = scene_mesh(frame_scene(folder, video_frame))
    verts = v.astype(np.float64) @ T[:3, :3].T + T[:3, 3]
    size, n = float(voxel_size), int(np.prod(dims))
    occupied, classes = occupied_classes(verts, t, labels, voxel_origin, size, dims)
    rc = raycasting_scene(verts.astype(np.float32), t)

    pose = T @ frame["cam2world"].astype(np.float64)  # camera → grid frame (rotation × scale)
    eye = pose[:3, 3]
    h, w = frame["depth"].shape
    K = frame["K"].astype(np.float64)

    # rays through a supersampled pixel grid: which voxel each first hit lands in, and its class
    s = SUPERSAMPLE
    u, vv = np.meshgrid((np.arange(w * s) + 0.5) / s, (np.arange(h * s) + 0.5) / s)
    cam = np.stack([(u - K[0, 2]) / K[0, 0], (vv - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    dirs = cam.reshape(-1, 3) @ pose[:3, :3].T
    ans = rc.cast_rays(_rays(eye, dirs))
    t_hit = ans["t_hit"].numpy().astype(np.float64)
    ok = np.isfinite(t_hit)
    hits = eye + dirs[ok] * t_hit[ok, None]
    cls = labels[ans["primitive_ids"].numpy()[ok]].astype(np.int64)
    ijk = np.floor((hits - voxel_origin) / size).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.asarray(dims)), axis=1)
    flat = np.ravel_multi_index(ijk[inside].T, dims)
    k = NUM_CLASSES + 1
    votes = np.bincount(flat * k + cls[inside], minlength=n * k).reshape(n, k)

    # rays from the camera to every voxel centre inside the view: reached unobstructed?
    centres = _grid_centres(voxel_origin, size, dims)
    to_c = centres - eye
    in_cam = to_c @ pose[:3, :3]  # camera coordinates × scale (z ahead)
    with np.errstate(divide="ignore", invalid="ignore"):
        pu = K[0, 0] * in_cam[:, 0] / in_cam[:, 2] + K[0, 2]
        pv = K[1, 1] * in_cam[:, 1] / in_cam[:, 2] + K[1, 2]
    view = (in_cam[:, 2] > 0) & (pu >= 0) & (pu < w) & (pv >= 0) & (pv < h)
    idx = np.flatnonzero(view)
    dist = np.linalg.norm(to_c[idx], axis=1)
    reach = rc.cast_rays(_rays(eye, to_c[idx] / dist[:, None]))["t_hit"].numpy()
    clear = np.zeros(n, bool)
    clear[idx] = reach >= dist

    grid = np.full(n, UNKNOWN, np.uint8)
    grid[clear & ~occupied] = FREE
    seen_votes = votes[:, 1:].sum(1) > 0
    by_votes = np.argmax(votes[:, 1:], axis=1) + 1  # argmax: ties → smaller id
    by_mesh = np.argmax(classes[:, 1:], axis=1) + 1  # the smallest class crossing the voxel
    classed = classes[:, 1:].any(1)
    grid[seen_votes] = by_votes[seen_votes]
    late = classed & clear & ~seen_votes
    grid[late] = by_mesh[late]
    return grid.reshape(dims)
