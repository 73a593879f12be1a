"""Builds tiny finished data roots (clips with frames, segments, occupancy samples and ok
markers) with the storage writers, for the dataset, loader, CLI and notebook tests."""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image

from storage.atomic import atomic_path
from storage.config import GRID_DIMS, VOXEL_SIZE, Config
from storage.formats import ClipInfo, write_clip_info, write_sample, write_segment
from storage.ids import clip_id, video_id_of_clip
from storage.layout import CLIP_STAGES, VIDEO_STAGES, DataRoot
from storage.markers import StageResult
from storage.stages import run_item_stage

H, W = 120, 160
K = np.array([[140.0, 0, W / 2], [0, 140.0, H / 2], [0, 0, 1]], np.float32)


def room_grid(seed: int) -> np.ndarray:
    """A (60,60,36) grid: floor, two walls, a table and a chair, unknown beyond the view."""
    rng = np.random.default_rng(seed)
    t = np.zeros(GRID_DIMS, np.uint8)
    t[:, :, 0] = 2
    t[0, :, :] = 3
    t[:, 0, :] = 3
    x, y = rng.integers(10, 40, 2)
    t[x : x + 8, y : y + 6, 1:5] = 8
    t[x + 10 : x + 13, y : y + 3, 1:6] = 5
    t[50:, 50:, :] = 255
    return t


def write_frame(path, seed: int, size: tuple[int, int] = (H, W)) -> None:
    """A random RGB JPEG frame of `size` (H, W)."""
    rgb = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="JPEG", quality=90)


def ok_markers(
    root: DataRoot, cid: str, backend: str = "synthetic-gt", cfg: Config | None = None
) -> None:
    """Run every video and clip stage of `cid` with a no-op body through the real marker
    machinery (so keys, inputs and outputs are those of `cfg`, default Config()); model
    stages are tagged with `backend`."""
    cfg = cfg or Config()
    vid = video_id_of_clip(cid)
    for stage in VIDEO_STAGES:
        run_item_stage(root, cfg, vid, stage, lambda: None)
    for stage in CLIP_STAGES:
        model = stage in ("indoor", "reconstruct", "segment")
        result = StageResult(backend=backend if model else None,
                             weights=f"{backend}-weights" if model else None)  # fmt: skip
        run_item_stage(root, cfg, cid, stage, lambda r=result: r)


def build_clip(
    root: DataRoot,
    video_id: str,
    shot: int,
    frames: int = 2,
    *,
    segments: bool = True,
    size: tuple[int, int] = (H, W),
) -> str:
    """One finished clip of `frames` samples with frames of `size` (H, W); returns its id."""
    cid = clip_id(video_id, shot)
    h, w = size
    cam_k = K * np.array([[w / W], [h / H], [1]], np.float32)
    write_clip_info(root.clip_json(cid), ClipInfo(cid, video_id, shot, 0, 30, 0.0, 1.0, 30.0))
    for k in range(frames):
        seed = zlib.crc32(f"{video_id}/{shot}/{k}".encode())
        write_frame(root.frame_path(cid, k), seed, size)
        depth = np.full(size, 2.0, np.float32)
        depth[:10] = 0.0
        pose = np.eye(4, dtype=np.float32)
        pose[:3, 3] = [0.1 * k, 0.0, 1.5]
        write_sample(
            root.occ_path(cid, k),
            target=room_grid(seed),
            voxel_origin=np.array([-2.4, 0.0, 0.0], np.float32),
            cam_k=cam_k,
            cam_pose=pose,
            depth=depth,
            frame=root.frame_path(cid, k).relative_to(root.root).as_posix(),
            voxel_size=VOXEL_SIZE,
            dims=GRID_DIMS,
        )
        if segments:
            labels = np.full(size, 3, np.uint8)
            labels[h // 2 :] = 2
            regions = np.arange(h * w, dtype=np.int32).reshape(size) // (w * 20)
            regions[:5] = -1
            write_segment(root.segment_path(cid, k), labels, regions)
    ok_markers(root, cid)
    return cid


def build_root(
    root: DataRoot,
    videos: dict[str, int] | None = None,
    frames: int = 2,
    size: tuple[int, int] = (H, W),
) -> list[str]:
    """Finished clips for `videos` (video id → number of clips); returns the clip ids."""
    videos = videos if videos is not None else {"vidA": 2, "vidB": 1, "vidC": 1}
    return [build_clip(root, v, s, frames, size=size) for v, n in videos.items() for s in range(n)]


def align_provenance(root: DataRoot, cid: str, method: str | None) -> None:
    """Give the clip's align marker the scale provenance an align run of `method` records
    (``ceiling``, ``ceiling-glimpse``, ``wall-top``, ``camera-height``; None: none recorded)."""
    from storage.scale import MEASURED

    stats = {}
    if method is not None:
        source = "measured" if method in MEASURED else "assumed"
        stats = {"method": f"floor+{method}", "scale_source": source, "scale_method": method}
    cfg = Config()  # an align run recording these stats, then voxelize again (it reads align)
    run_item_stage(root, cfg, cid, "align", lambda: StageResult(stats), force=True)
    run_item_stage(root, cfg, cid, "voxelize", lambda: None, force=True)
