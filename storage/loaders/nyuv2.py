"""NYUv2 in MonoScene's preprocessed format → the common sample dict (see ``SAMPLE_KEYS``).

Layout: ``<preprocess>/base/NYU{split}/<name>.pkl`` (or ``<preprocess>/NYU{split}/``), each a
pickle of {``cam_pose`` (4,4) camera-to-world, ``voxel_origin`` (3,) grid min corner, ``name``,
``target_1_4`` uint8 (60,36,60) indexed (x, z-up, y), ``target_1_16``}; RGB at
``<rgb_root>/NYU{split}/<name>_color.jpg`` (640×480). No intrinsics are stored: NYU's fixed K
(fx = fy = 518.8579, cx = 320, cy = 240 at 640×480), scaled to the image's size. The targets
are transposed to our [x, y, z] (60,60,36). The preprocessed data has no depth or regions:
``depth`` is 0 and ``regions`` -1 (pretraining then falls back to SLIC and needs depth).
Pickles are read with an unpickler that only rebuilds numpy arrays and plain containers.
Also owns the image and pickle helpers the OccScanNet loader shares.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from storage.formats import UNKNOWN, FormatError

NYU_GRID: tuple[int, int, int] = (60, 60, 36)
"""The grid of MonoScene's NYUv2 preprocessing (a fact of that format, not a setting)."""

NYU_K = np.array([[518.8579, 0.0, 320.0], [0.0, 518.8579, 240.0], [0.0, 0.0, 1.0]], np.float32)
NYU_SIZE = (480, 640)
"""(H, W) the NYU intrinsics refer to."""

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("builtins", "slice"),
    ("collections", "OrderedDict"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and builtin containers only; any other class is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_pickle(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """A dict pickle holding `keys`; FormatError naming the file otherwise."""
    if not path.is_file():
        raise FormatError(f"{path}: missing")
    try:
        with open(path, "rb") as fh:
            data = _ArrayUnpickler(fh).load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as e:
        raise FormatError(f"{path}: unreadable pickle ({e})") from e
    if not isinstance(data, dict):
        raise FormatError(f"{path}: holds {type(data).__name__}, expected a dict")
    missing = [k for k in keys if k not in data]
    if missing:
        raise FormatError(f"{path}: keys {missing} missing (has {sorted(data)})")
    return data


def as_array(path: Path, key: str, value: Any, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """`value` as an array of `shape`; FormatError naming file and key otherwise."""
    a = np.asarray(value)
    if a.shape != shape:
        raise FormatError(f"{path}: {key} has shape {a.shape}, expected {shape}")
    return a.astype(dtype, copy=False)


def check_target(path: Path, target: np.ndarray) -> None:
    """A usable (60,60,36) target: right shape and not entirely unknown."""
    if target.shape != NYU_GRID:
        raise FormatError(f"{path}: target has shape {target.shape}, expected {NYU_GRID}")
    if np.all(target == UNKNOWN):
        raise FormatError(f"{path}: target is all 255 (no known voxel)")


def load_rgb(
    path: Path, image_hw: tuple[int, int] | None, source: Path
) -> tuple[torch.Tensor, float, float]:
    """RGB (3,H,W) in [0,1], resized to `image_hw` if given, and the x/y scale applied."""
    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
    except (OSError, UnidentifiedImageError) as e:
        raise FormatError(f"{source}: image {path} missing or unreadable ({e})") from e
    w0, h0 = rgb.size
    if image_hw is not None and (h0, w0) != tuple(image_hw):
        rgb = rgb.resize((image_hw[1], image_hw[0]), Image.BILINEAR)
    w, h = rgb.size
    arr = torch.from_numpy(np.asarray(rgb, np.float32) / 255.0).permute(2, 0, 1).contiguous()
    return arr, w / w0, h / h0


def scale_k(cam_k: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Intrinsics for an image resized by (sx, sy)."""
    k = np.array(cam_k, np.float32)
    k[0] *= sx
    k[1] *= sy
    return k


def sample_dict(
    image: torch.Tensor,
    cam_k: np.ndarray,
    cam_pose: np.ndarray,
    voxel_origin: np.ndarray,
    target: np.ndarray,
    depth: np.ndarray | None,
    regions: np.ndarray | None,
    name: str,
) -> dict[str, Any]:
    """The common sample dict (torch tensors) every loader returns."""
    hw = tuple(image.shape[1:])
    depth = np.zeros(hw, np.float32) if depth is None else depth
    regions = np.full(hw, -1, np.int32) if regions is None else regions
    return {
        "image": image,
        "cam_k": torch.from_numpy(np.asarray(cam_k, np.float32)),
        "cam_pose": torch.from_numpy(np.asarray(cam_pose, np.float32)),
        "voxel_origin": torch.from_numpy(np.asarray(voxel_origin, np.float32)),
        "target": torch.from_numpy(np.ascontiguousarray(target, np.uint8)),
        "depth": torch.from_numpy(np.asarray(depth, np.float32)),
        "regions": torch.from_numpy(np.asarray(regions, np.int32)),
        "name": name,
    }


def nyu_pickle_dir(root: Path, split: str) -> Path:
    """The folder of a split's pickles under a MonoScene preprocess root."""
    for cand in (root / "base" / f"NYU{split}", root / f"NYU{split}"):
        if cand.is_dir() and any(cand.glob("*.pkl")):
            return cand
    raise FormatError(f"{root}: no NYU{split} pickles under base/NYU{split}/ or NYU{split}/")


class NYUv2Dataset(Dataset):
    """MonoScene-preprocessed NYUv2 frames as common sample dicts."""

    def __init__(
        self,
        preprocess_root: str | os.PathLike[str],
        split: str = "train",
        rgb_root: str | os.PathLike[str] | None = None,
        image_hw: tuple[int, int] | None = None,
    ) -> None:
        self.root = Path(preprocess_root)
        self.split = split
        self.rgb_dir = Path(rgb_root or preprocess_root) / f"NYU{split}"
        self.files = sorted(nyu_pickle_dir(self.root, split).glob("*.pkl"))
        self.image_hw = image_hw

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        data = read_pickle(path, ("cam_pose", "voxel_origin", "target_1_4"))
        name = str(data.get("name", path.stem))
        raw = as_array(path, "target_1_4", data["target_1_4"], (60, 36, 60), np.uint8)
        target = np.ascontiguousarray(raw.transpose(0, 2, 1))  # (x, z, y) → (x, y, z)
        check_target(path, target)
        pose = as_array(path, "cam_pose", data["cam_pose"], (4, 4), np.float32)
        origin = as_array(path, "voxel_origin", data["voxel_origin"], (3,), np.float32)
        image, sx, sy = load_rgb(self.rgb_dir / f"{name}_color.jpg", self.image_hw, path)
        h, w = image.shape[1:]
        k = scale_k(NYU_K, w / NYU_SIZE[1], h / NYU_SIZE[0])
        return sample_dict(image, k, pose, origin, target, None, None, name)
