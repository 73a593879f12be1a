"""Symphonies (Jiang et al., CVPR 2024), the paper's occupancy network: the mapping of a ytocc
sample onto its inputs, and a registry entry that says how to install it.

Symphonies is not a PyPI package: it is the ``ssc_pl`` package of its repository
(hustvl/Symphonies), built on MMDetection 3 (a MaskDINO image encoder) and mmcv's compiled
multi-scale deformable-attention ops. On this stack (torch 2.14, CPU) mmcv has no wheel on PyPI
and its source distribution does not build (``pip install --dry-run mmcv==2.1.0``: its setup
script imports ``pkg_resources``, gone from current setuptools; its C++/CUDA ops target older
torch), and MMDetection 3.3 pins ``mmcv<2.2``. So the registry entry fails with :data:`INSTALL`.

:func:`symphonies_inputs` is the part that does not need those packages: it turns one ytocc
sample (``storage.loaders`` keys: image in [0, 1], ``cam_k``, ``cam_pose`` camera-to-world,
``voxel_origin``, ``target``, ``depth``) into the two dicts Symphonies' NYUv2 dataset yields per
item (``ssc_pl/data/datasets/nyu_v2.py``: inputs ``img``, ``cam_K``, ``cam_pose`` (world→camera,
the inverse of NYUv2's stored pose, as that dataset inverts it), ``voxel_origin``,
``projected_pix_1``, ``fov_mask_1``, ``depth``; labels ``target``, ``frustums_masks``,
``frustums_class_dists``), for its model's ``forward`` and ``loss`` after default collation.
Its relation-prior matrix (``CP_mega_matrix``) is left out: Symphonies' NYUv2 criteria
(CE, semantic and geometric scene-class affinity, frustum proportion) do not read it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.occupancy.lifting import voxel_centres, world_to_camera
from models.occupancy.monoscene import project_voxels
from models.occupancy.monoscene_losses import frustum_ids
from storage.config import GRID_DIMS, VOXEL_SIZE
from storage.formats import NUM_CLASSES, OCCUPIED, UNKNOWN, FormatError

INSTALL = (
    "pip install -U openmim && mim install mmengine 'mmcv>=2.0.0,<2.2.0' 'mmdet>=3.0,<3.4' "
    "(a CUDA build of torch that mmcv supports), then git clone "
    "https://github.com/hustvl/Symphonies and put it on PYTHONPATH"
)
REQUIRED = ("ssc_pl", "mmdet", "mmcv", "mmengine")
IMAGE_HW = (480, 640)
"""Symphonies' NYUv2 ``image_shape`` (H, W): every sample is resized to it."""
FRUSTUM_SIZE = 8
"""Symphonies' NYUv2 ``frustum_size``: 8×8 image tiles for the frustum proportion loss."""
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class SymphoniesUnavailable(ImportError):
    """Symphonies' own code or its OpenMMLab dependencies are not importable."""


def missing_modules() -> list[str]:
    """The modules Symphonies needs that this environment cannot import."""
    return [m for m in REQUIRED if importlib.util.find_spec(m) is None]


def symphonies_inputs(
    sample: dict[str, Any],
    *,
    image_hw: tuple[int, int] = IMAGE_HW,
    voxel_size: float = VOXEL_SIZE,
    dims: tuple[int, int, int] = GRID_DIMS,
    frustum_size: int = FRUSTUM_SIZE,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(inputs, labels) of Symphonies' NYUv2 dataset for one ytocc sample (see module doc).

    The image is resized to `image_hw` (bilinear) and normalised with ImageNet's mean and
    std, depth (metres) resized nearest, ``cam_K`` scaled with them. Voxel centres
    (origin + (index + ½)·voxel_size, [x, y, z] row-major over `dims`) are projected with the
    rounded pinhole model; ``fov_mask_1`` keeps those in the image and in front of the camera.
    ``frustums_masks`` (T, X, Y, Z) marks the labelled voxels (target ≠ 255) of each of the
    T = frustum_size² image tiles (row-major), ``frustums_class_dists`` (T, 12) counts their
    classes. Shapes: img (3, H, W), cam_K (3, 3), cam_pose (4, 4), voxel_origin (3,),
    projected_pix_1 (N, 2) int64 [u, v], fov_mask_1 (N,) bool, depth (H, W), target (X, Y, Z)
    int64. Raises FormatError for a geometry-only target (254: occupied, no class).
    """
    target = torch.as_tensor(sample["target"]).long()
    if (target == OCCUPIED).any():
        raise FormatError(
            f"{sample.get('name', 'sample')}: geometry-only target (254); Symphonies' losses "
            "need classes"
        )
    image = sample["image"].float()
    h0, w0 = image.shape[1:]
    h, w = image_hw
    image = F.interpolate(image[None], size=image_hw, mode="bilinear", align_corners=False)[0]
    mean, std = (image.new_tensor(v).view(3, 1, 1) for v in (_MEAN, _STD))
    depth = torch.as_tensor(sample["depth"]).double()[None, None]
    depth = F.interpolate(depth, size=image_hw, mode="nearest")[0, 0]
    cam_k = torch.as_tensor(sample["cam_k"]).double().clone()
    cam_k[0] *= w / w0
    cam_k[1] *= h / h0
    pose = torch.as_tensor(sample["cam_pose"]).double()
    origin = torch.as_tensor(sample["voxel_origin"]).float()
    centres = voxel_centres(origin[None], voxel_size, dims).double()
    pix, fov = project_voxels(world_to_camera(centres, pose[None]), cam_k[None], image_hw)
    tiles = frustum_size**2
    ids = frustum_ids(pix, fov, image_hw, frustum_size)[0]
    labelled = (ids >= 0) & (target.reshape(-1) != UNKNOWN)
    masks = F.one_hot(torch.where(labelled, ids, tiles), tiles + 1)[:, :tiles].T
    dists = torch.zeros(tiles + 1, NUM_CLASSES + 1)
    dists.index_put_(
        (torch.where(labelled, ids, tiles), target.reshape(-1).clamp_max(NUM_CLASSES)),
        torch.ones(ids.shape[0]),
        accumulate=True,
    )
    inputs = {
        "img": (image - mean) / std,
        "cam_K": cam_k.float(),
        "cam_pose": torch.linalg.inv(pose).float(),
        "voxel_origin": origin,
        "projected_pix_1": pix[0],
        "fov_mask_1": fov[0],
        "depth": depth.float(),
    }
    labels = {
        "target": target,
        "frustums_masks": masks.reshape(tiles, *dims).float(),
        "frustums_class_dists": dists[:tiles],
    }
    return inputs, labels


class Symphonies(nn.Module):
    """Registry entry; construction fails with :meth:`unavailable`'s reason (see module doc)."""

    @staticmethod
    def unavailable() -> str:
        """Why ytocc cannot build Symphonies here: the missing modules and the install line."""
        missing = missing_modules()
        if missing:
            return (
                f"network 'symphonies' needs {', '.join(missing)} (not installable from PyPI on "
                f"this stack): {INSTALL}"
            )
        return (
            "network 'symphonies': its dependencies import, but ytocc does not build ssc_pl's "
            "model; train it with the Symphonies repository's scripts on samples mapped by "
            "models.occupancy.symphonies.symphonies_inputs"
        )

    def __init__(self, **kwargs) -> None:
        super().__init__()
        raise SymphoniesUnavailable(self.unavailable())
