"""OccScanNet in the format ISO publishes → the common sample dict (see ``SAMPLE_KEYS``).

Layout: ``<root>/gathered_data/<scene>/<frame>.pkl``, listed by ``<root>/{split}_subscenes.txt``
(paths relative to ``<root>``) when present, else every pickle of ``gathered_data``. Each pickle
holds ``cam_pose`` (4,4) camera-to-world, ``intrinsic`` (3,3 or 4,4), ``img`` (path of the
RGB frame), ``depth_gt`` (path of a 16-bit PNG in millimetres), ``voxel_origin`` (3,) and
``target_1_4`` uint8 already (60,60,36) [x,y,z]. As in ISO's loader, 255 is read as free.
Image paths may be absolute, relative to ``<root>``, or name a file beside the pickle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from storage.formats import FREE, UNKNOWN, FormatError
from storage.loaders.nyuv2 import (
    as_array,
    check_target,
    load_rgb,
    read_pickle,
    sample_dict,
    scale_k,
)

KEYS = ("cam_pose", "intrinsic", "img", "depth_gt", "voxel_origin", "target_1_4")


def list_frames(root: Path, split: str) -> list[Path]:
    """The pickles of a split: from ``{split}_subscenes.txt`` if present, else all of them."""
    listing = root / f"{split}_subscenes.txt"
    if listing.is_file():
        lines = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
        return [root / ln for ln in lines]
    files = sorted((root / "gathered_data").glob("*/*.pkl"))
    if not files:
        raise FormatError(f"{root}: no {listing.name} and no gathered_data/<scene>/*.pkl")
    return files


def resolve_asset(root: Path, pkl: Path, ref: str) -> Path:
    """The file a pickle's path `ref` points at: absolute, under `root`, or beside the pickle."""
    for cand in (Path(ref), root / ref, pkl.parent / Path(ref).name):
        if cand.is_file():
            return cand
    raise FormatError(
        f"{pkl}: referenced file {ref!r} not found (absolute, under {root}, or beside)"
    )


def read_depth_png(path: Path, pkl: Path, hw: tuple[int, int]) -> np.ndarray:
    """Metric depth (m) from a 16-bit millimetre PNG, resized (nearest) to `hw`."""
    try:
        with Image.open(path) as im:
            if im.size != (hw[1], hw[0]):
                im = im.resize((hw[1], hw[0]), Image.NEAREST)
            depth_mm = np.asarray(im, dtype=np.float32)
    except OSError as e:
        raise FormatError(f"{pkl}: depth {path} unreadable ({e})") from e
    return depth_mm / 1000.0


class OccScanNetDataset(Dataset):
    """OccScanNet frames (ISO's gathered_data pickles) as common sample dicts."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        image_hw: tuple[int, int] | None = None,
    ) -> None:
        self.root = Path(root)
        self.files = list_frames(self.root, split)
        self.image_hw = image_hw

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        data = read_pickle(path, KEYS)
        raw = as_array(path, "target_1_4", data["target_1_4"], (60, 60, 36), np.uint8)
        check_target(path, raw)
        target = np.where(raw == UNKNOWN, FREE, raw).astype(np.uint8)
        intrinsic = np.asarray(data["intrinsic"], np.float32)
        if intrinsic.shape not in ((3, 3), (4, 4)):
            raise FormatError(f"{path}: intrinsic has shape {intrinsic.shape}, expected 3×3 or 4×4")
        pose = as_array(path, "cam_pose", data["cam_pose"], (4, 4), np.float32)
        origin = as_array(path, "voxel_origin", data["voxel_origin"], (3,), np.float32)
        image, sx, sy = load_rgb(
            resolve_asset(self.root, path, str(data["img"])), self.image_hw, path
        )
        hw = tuple(image.shape[1:])
        depth = read_depth_png(resolve_asset(self.root, path, str(data["depth_gt"])), path, hw)
        name = f"{path.parent.name}/{path.stem}"
        return sample_dict(
            image, scale_k(intrinsic[:3, :3], sx, sy), pose, origin, target, depth, None, name
        )
