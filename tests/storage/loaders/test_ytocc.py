"""The frozen-dataset loader: sample keys, dtypes, resizing, regions, bad splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from storage.config import GRID_DIMS, Config
from storage.formats import read_sample, read_segment
from storage.loaders import SAMPLE_KEYS
from storage.loaders.ytocc import YtoccDataset
from tasks.dataset import freeze
from tests.support.tiny_dataset import H, W, build_clip, build_root

torch.set_num_threads(1)


@pytest.fixture
def frozen(root):
    build_root(root)
    return freeze(root, Config(), "demo").path


def test_items_hold_the_sample_contract(frozen):
    ds = YtoccDataset(frozen, "train")
    assert len(ds) == 6
    item = ds[0]
    assert tuple(item) == SAMPLE_KEYS
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, H, W)
    assert float(item["image"].min()) >= 0.0 and float(item["image"].max()) <= 1.0
    assert item["target"].dtype == torch.uint8 and tuple(item["target"].shape) == GRID_DIMS
    assert item["regions"].dtype == torch.int32 and item["regions"].shape == (H, W)
    assert item["depth"].dtype == torch.float32 and item["cam_k"].shape == (3, 3)
    row = ds.rows[0]
    sample = read_sample(frozen / row["sample_path"])
    np.testing.assert_array_equal(item["target"].numpy(), sample["target"])
    np.testing.assert_array_equal(
        item["regions"].numpy(), read_segment(frozen / row["segment_path"])["regions"]
    )
    assert item["name"] == row["sample_id"]


def test_resize_scales_image_depth_regions_and_intrinsics(frozen):
    full, half = (
        YtoccDataset(frozen, "val")[0],
        YtoccDataset(frozen, "val", size=(H // 2, W // 2))[0],
    )
    assert half["image"].shape == (3, H // 2, W // 2)
    assert half["depth"].shape == half["regions"].shape == (H // 2, W // 2)
    assert half["regions"].dtype == torch.int32 and half["regions"][0, 0] == -1
    torch.testing.assert_close(half["cam_k"][:2], full["cam_k"][:2] / 2)
    torch.testing.assert_close(half["target"], full["target"])


def test_batches_through_a_dataloader(frozen):
    batch = next(iter(DataLoader(YtoccDataset(frozen, "train"), batch_size=3)))
    assert batch["image"].shape == (3, 3, H, W) and len(batch["name"]) == 3


def test_clip_without_segments_gives_no_regions(root):
    build_clip(root, "vidA", 0, frames=1, segments=False)
    ds = YtoccDataset(freeze(root, Config(), "x").path, "train")
    assert (ds[0]["regions"] == -1).all()


def test_unknown_split_or_folder_is_a_clear_error(frozen, tmp_path):
    with pytest.raises(ValueError, match="split 'test'"):
        YtoccDataset(frozen, "test")
    with pytest.raises(FileNotFoundError, match="ytocc dataset"):
        YtoccDataset(tmp_path, "train")
