"""A furnished box room ray-cast with Open3D into a synthetic-truth folder and a ready clip.

Lets the geometry stages run from reconstruct to voxelize without the tour generator: the
truth (K, poses, depth, labels) is exact, so each stage's output can be checked against it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import open3d as o3d

from storage.atomic import write_json
from storage.config import Config
from storage.formats import ClipInfo, write_clip_info
from storage.layout import DataRoot
from storage.stages import run_item_stage
from storage.truth import (
    TruthShot,
    bind_video,
    write_meta,
    write_rooms,
    write_shots,
    write_truth_frame,
)
from tests.support.rooms import camera_pose

BOXES = [  # (min, max, NYU label): walls/floor/ceiling come from the room box itself
    ((1.0, 2.6, 0.0), (2.8, 3.8, 0.55), 6),  # bed
    ((3.6, 0.4, 0.0), (4.4, 1.0, 0.75), 8),  # table
    ((0.3, 0.3, 0.0), (0.8, 0.8, 0.95), 5),  # chair
]
ROOM = (5.0, 4.0, 2.8)


def _box(lo, hi) -> o3d.geometry.TriangleMesh:
    m = o3d.geometry.TriangleMesh.create_box(*(np.subtract(hi, lo)))
    return m.translate(lo)


def room_scene() -> tuple[o3d.t.geometry.RaycastingScene, dict[int, int]]:
    """The scene and the NYU label of each geometry id (room box faces by normal at cast time)."""
    scene = o3d.t.geometry.RaycastingScene()
    labels = {
        scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(_box((0, 0, 0), ROOM))): 0
    }
    for lo, hi, lab in BOXES:
        labels[scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(_box(lo, hi)))] = lab
    return scene, labels


def cast(scene, labels: dict[int, int], K: np.ndarray, pose: np.ndarray, h: int, w: int):
    """z-depth and NYU labels of one view."""
    v, u = np.mgrid[0:h, 0:w]
    dirs = np.stack(
        [(u + 0.5 - K[0, 2]) / K[0, 0], (v + 0.5 - K[1, 2]) / K[1, 1], np.ones((h, w))], -1
    )
    world = dirs.reshape(-1, 3) @ pose[:3, :3].T
    rays = np.concatenate([np.broadcast_to(pose[:3, 3], world.shape), world], 1).astype(np.float32)
    ans = scene.cast_rays(o3d.core.Tensor(rays))
    t = ans["t_hit"].numpy()
    gid = ans["geometry_ids"].numpy()
    n = ans["primitive_normals"].numpy()
    hit = np.isfinite(t)
    lab = np.vectorize(lambda g: labels.get(int(g), 0))(gid).astype(np.uint8)
    room = hit & (lab == 0)
    lab[room & (np.abs(n[:, 2]) > 0.5) & (t * world[:, 2] < -0.1)] = 2  # hit going down: floor
    lab[room & (np.abs(n[:, 2]) > 0.5) & (t * world[:, 2] > 0.1)] = 1  # ceiling
    lab[room & (np.abs(n[:, 2]) <= 0.5)] = 3
    depth = np.where(hit, t, 0).astype(np.float32)  # t is z-depth: dirs have z = 1
    return depth.reshape(h, w), lab.reshape(h, w)


def write_truth_room(
    folder: Path, n_frames: int = 8, size=(160, 120)
) -> tuple[np.ndarray, np.ndarray]:
    """Truth frames 0..n-1 of a slow pan around the room; returns (K, poses)."""
    w, h = size
    K = np.array([[0.5 * w, 0, w / 2], [0, 0.5 * w, h / 2], [0, 0, 1]])  # 90° wide, like tours
    scene, labels = room_scene()
    poses = np.stack([camera_pose(np.array([2.5 + 0.6 * np.cos(a), 2.0 + 0.3 * np.sin(a), 1.5]), a + 1.2, -0.05)
                      for a in np.linspace(0, 1.6 * np.pi, n_frames)])  # fmt: skip
    for i, pose in enumerate(poses):
        depth, lab = cast(scene, labels, K, pose, h, w)
        write_truth_frame(folder, i, K, pose, depth, lab)
    write_meta(folder, {"width": w, "height": h, "fps": 24, "num_frames": n_frames, "seed": 0})
    write_shots(folder, [TruthShot(0, n_frames, True, 0)])
    write_rooms(folder, [room_description()])
    return K, poses


def room_description() -> dict:
    """The room in the tour's scene format (``tasks.synth.scene``), for the mesh-exact truth."""
    boxes = [{"name": f"box {i}", "label": lab, "min": list(lo), "max": list(hi), "tint": [0.5] * 3}
             for i, (lo, hi, lab) in enumerate(BOXES)]  # fmt: skip
    return {"index": 0, "indoor": True, "size": list(ROOM), "boxes": boxes, "shell_tint": [0.7] * 9}


def encode_video(path: Path, images: list[np.ndarray], fps: int = 24) -> Path:
    """`images` (H,W,3) uint8 RGB as an H.264 mp4 at `path`; returns it."""
    import av
    import av.logging

    av.logging.set_level(av.logging.ERROR)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for img in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def ready_clip(
    root: DataRoot,
    cfg: Config,
    truth: Path,
    n_frames: int,
    size=(160, 120),
    video: str = "room",
    seed: int = 0,
) -> str:
    """Clip ``{video}-000`` whose video (the frames encoded; `truth` is bound to it), frames
    (label colours, palette from `seed`: another seed, another video) and upstream markers
    exist, up to ``indoor``."""
    from storage.truth import read_truth_frame

    cid = f"{video}-000"
    for stage in ("download", "shots"):
        run_item_stage(root, cfg, video, stage, lambda: None)
    write_clip_info(
        root.clip_json(cid), ClipInfo(cid, video, 0, 0, n_frames, 0.0, n_frames / 24, 24.0)
    )
    palette = (np.random.default_rng(seed).random((12, 3)) * 255).astype(np.uint8)
    images = []
    for k in range(n_frames):
        img = palette[read_truth_frame(truth, k)["labels"]]
        img = np.clip(img + np.random.default_rng(k).normal(0, 12, img.shape), 0, 255).astype(
            np.uint8
        )
        images.append(img)
        root.frames_dir(cid).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root.frame_path(cid, k)), img[:, :, ::-1])
    write_json(root.frames_index(cid), {"video_frames": list(range(n_frames)), "width": size[0],
                                         "height": size[1], "scale": 1.0})  # fmt: skip
    bind_video(truth, encode_video(root.video_file(video), images))
    for stage in ("frames", "indoor"):
        run_item_stage(root, cfg, cid, stage, lambda: None)
    return cid


def write_room_tour(folder: Path, n_frames: int = 48, size=(160, 120), fps: int = 24) -> Path:
    """A one-shot tour video of the room (textured label colours) beside its truth/, which is
    bound to it (``video_sha256``, like ``ytocc synth``); returns the video."""
    from storage.truth import read_truth_frame

    truth = folder / "truth"
    write_truth_room(truth, n_frames, size)
    palette = (np.random.default_rng(0).random((12, 3)) * 200 + 40).astype(np.float32)
    images = []
    for i in range(n_frames):
        t = read_truth_frame(truth, i)
        shade = 1.0 / (1.0 + 0.15 * t["depth"])[..., None]
        grain = np.random.default_rng(i).normal(0, 6, (*t["labels"].shape, 3))
        images.append(
            np.clip(palette[t["labels"]] * (0.5 + shade) + grain, 0, 255).astype(np.uint8)
        )
    video = encode_video(folder / "tour.mp4", images, fps)
    bind_video(truth, video)
    return video
