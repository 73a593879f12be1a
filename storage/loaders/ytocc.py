"""A torch ``Dataset`` over a frozen ytocc dataset (``datasets/{name}/``, see tasks/dataset.py).

Each item is a dict with :data:`storage.loaders.SAMPLE_KEYS`; an optional resize scales the
image (bilinear), depth and region masks (nearest) and the intrinsics together.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from storage.dataset_schema import SAMPLES, SPLITS
from storage.formats import FormatError, read_sample, read_segment
from storage.schemas import read_table


def _nearest(a: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(H,W) array → (h,w) tensor by nearest-neighbour resampling (dtype kept)."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    if tuple(t.shape) == size:
        return t
    return F.interpolate(t[None, None].double(), size=size, mode="nearest")[0, 0].to(t.dtype)


class YtoccDataset(Dataset):
    """Samples of one split of a frozen dataset, read lazily from its folder."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        split: str = "train",
        size: tuple[int, int] | None = None,
    ) -> None:
        """`path`: the dataset folder; `size`: (H, W) every item is resized to, or None."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        self.path = Path(path)
        table = self.path / f"{split}.parquet"
        if not table.is_file():
            raise FileNotFoundError(
                f"{table} missing: is {self.path} a dataset frozen by `ytocc dataset`?"
            )
        df = read_table(table, SAMPLES)
        self.rows = df.astype(object).where(df.notna(), None).to_dict("records")
        self.size = size

    def __len__(self) -> int:
        return len(self.rows)

    def _image(self, row: dict[str, Any]) -> torch.Tensor:
        with Image.open(self.path / row["frame_path"]) as im:
            rgb = np.array(im.convert("RGB"))
        return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)

    def _regions(self, row: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        if row["segment_path"] is None:
            return np.full(shape, -1, np.int32)
        return read_segment(self.path / row["segment_path"])["regions"]

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.rows[i]
        sample = read_sample(self.path / row["sample_path"])
        image = self._image(row)
        h, w = image.shape[1:]
        depth, regions = sample["depth"], self._regions(row, (h, w))
        for name, a in (("depth", depth), ("regions", regions)):
            if a.shape != (h, w):
                raise FormatError(
                    f"{row['sample_id']}: {name} {a.shape} differs from image {(h, w)}"
                )
        cam_k = torch.from_numpy(sample["cam_k"].copy())
        out_h, out_w = self.size or (h, w)
        if (out_h, out_w) != (h, w):
            image = F.interpolate(
                image[None], size=(out_h, out_w), mode="bilinear", align_corners=False
            )[0]
            cam_k[0] *= out_w / w
            cam_k[1] *= out_h / h
        return {
            "image": image,
            "cam_k": cam_k,
            "cam_pose": torch.from_numpy(sample["cam_pose"].copy()),
            "voxel_origin": torch.from_numpy(sample["voxel_origin"].copy()),
            "target": torch.from_numpy(sample["target"].copy()),
            "depth": _nearest(depth, (out_h, out_w)),
            "regions": _nearest(regions, (out_h, out_w)),
            "name": row["sample_id"],
        }
