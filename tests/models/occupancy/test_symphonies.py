"""Symphonies: a frozen ytocc sample maps onto the inputs and labels of Symphonies' NYUv2 dataset
(projection, frustums and their class counts checked against direct NumPy computations); the
registry entry fails with the install line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.occupancy.symphonies import (
    INSTALL,
    Symphonies,
    SymphoniesUnavailable,
    missing_modules,
    symphonies_inputs,
)
from storage.config import GRID_DIMS, VOXEL_SIZE, Config
from storage.formats import ClipInfo, FormatError, write_clip_info, write_sample
from storage.ids import clip_id
from storage.loaders.ytocc import YtoccDataset
from tasks.dataset import freeze
from tests.support.tiny_dataset import ok_markers
from tests.support.tiny_training import make_sample


@pytest.fixture
def sample(root) -> dict:
    """Item 0 of a dataset frozen by the real `freeze`, of finished clips that hold ray-cast
    rooms (a camera at 1.4 m looking across: depth, target and frame from one geometry)."""
    for seed, video in enumerate(("vidA", "vidB", "vidC")):
        cid = clip_id(video, 0)
        write_clip_info(root.clip_json(cid), ClipInfo(cid, video, 0, 0, 30, 0.0, 1.0, 30.0))
        room = make_sample(seed)
        frame = root.frame_path(cid, 0)
        frame.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(room["rgb"]).save(frame, format="JPEG", quality=95)
        arrays = {k: room[k].numpy() for k in ("target", "voxel_origin", "cam_k", "cam_pose",
                                               "depth")}  # fmt: skip
        write_sample(root.occ_path(cid, 0), frame=frame.relative_to(root.root).as_posix(),
                     voxel_size=VOXEL_SIZE, dims=GRID_DIMS, **arrays)  # fmt: skip
        ok_markers(root, cid)
    return YtoccDataset(freeze(root, Config(), "demo").path, "train")[0]


def _project(sample: dict, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Voxel centres → rounded pixels and the in-image, in-front mask, in NumPy (reference)."""
    ijk = np.stack(np.meshgrid(*map(np.arange, GRID_DIMS), indexing="ij"), -1).reshape(-1, 3)
    centres = sample["voxel_origin"].numpy().astype(np.float32) + (ijk + 0.5) * VOXEL_SIZE
    w2c = np.linalg.inv(sample["cam_pose"].numpy().astype(np.float64))
    cam = centres @ w2c[:3, :3].T + w2c[:3, 3]
    k = sample["cam_k"].numpy().astype(np.float64).copy()
    h0, w0 = sample["image"].shape[1:]
    k[0] *= hw[1] / w0
    k[1] *= hw[0] / h0
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.round(cam[:, :2] / cam[:, 2:] * [k[0, 0], k[1, 1]] + k[:2, 2])
    uv = np.where(np.isfinite(uv), uv, -1).astype(np.int64)
    fov = (
        (cam[:, 2] > 0)
        & (uv[:, 0] >= 0)
        & (uv[:, 0] < hw[1])
        & (uv[:, 1] >= 0)
        & (uv[:, 1] < hw[0])
    )
    return uv, fov


def test_a_ytocc_sample_becomes_symphonies_nyu_inputs(sample):
    inputs, labels = symphonies_inputs(sample)
    img = inputs["img"]
    assert img.shape == (3, 480, 640) and img.dtype == torch.float32
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    back = img * std[:, None, None] + mean[:, None, None]
    up = torch.nn.functional.interpolate(sample["image"][None], size=(480, 640), mode="bilinear")
    assert torch.allclose(back, up[0], atol=1e-5)
    # world→camera, the inverse of our camera-to-world pose
    assert torch.allclose(inputs["cam_pose"].double() @ sample["cam_pose"].double(),
                          torch.eye(4, dtype=torch.float64), atol=1e-5)  # fmt: skip
    assert inputs["cam_K"][0, 0] == pytest.approx(40.0 * 10) and inputs["cam_K"][1, 2] == 240
    depth = inputs["depth"]  # nearest: every 10×10 block repeats one source pixel
    assert depth.shape == (480, 640) and torch.equal(depth[5::10, 5::10], sample["depth"])

    uv, fov = _project(sample, (480, 640))
    assert fov.sum() > 20_000  # the camera sees across most of the room
    assert np.array_equal(inputs["fov_mask_1"].numpy(), fov)
    assert np.array_equal(inputs["projected_pix_1"].numpy()[fov], uv[fov])

    target = sample["target"].numpy().reshape(-1)
    masks = labels["frustums_masks"].numpy().reshape(64, -1).astype(bool)
    assert labels["target"].shape == GRID_DIMS and labels["target"].dtype == torch.int64
    # every labelled voxel in view is in exactly one of the 8×8 tiles, the one its pixel is in
    assert np.array_equal(masks.sum(0), (fov & (target != 255)).astype(int))
    for t in (0, 27, 63):
        row, col = divmod(t, 8)
        in_tile = ((uv[:, 0] >= col * 80) & (uv[:, 0] < (col + 1) * 80)
                   & (uv[:, 1] >= row * 60) & (uv[:, 1] < (row + 1) * 60))  # fmt: skip
        assert np.array_equal(masks[t], in_tile & fov & (target != 255)), t
    counts = np.stack([np.bincount(target[m], minlength=12)[:12] for m in masks])
    assert np.array_equal(labels["frustums_class_dists"].numpy(), counts)
    assert counts.sum() == masks.sum() > 0


def test_a_geometry_only_sample_is_refused(sample):
    sample["target"][0, 0, 0] = 254
    with pytest.raises(FormatError, match="geometry-only target"):
        symphonies_inputs(sample)


def test_the_registry_entry_fails_with_the_install_line():
    assert missing_modules()  # mmcv cannot be installed on this stack (module doc)
    with pytest.raises(SymphoniesUnavailable, match="needs .*mmcv") as info:
        Symphonies()
    assert INSTALL in str(info.value)
