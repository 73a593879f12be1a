"""MonoScene (Cao & de Charette, CVPR 2022) for NYUv2, re-implemented from the paper and its
public model definition: a 2D UNet on a pretrained EfficientNet-B7, FLoSP lifting, a 3D UNet
with the 3D context relation prior, and its losses.

FLoSP (§3.1): every voxel centre of the 60×60×36 grid is projected with ``cam_k`` into the
image (pixel = round(f·x/z + c), kept when inside the image and in front of the camera); for
each 2D scale s in ``project_scales`` (1, 2, 4, 8), the decoder's 1:s map is read at
pixel // s; the reads are summed (zero outside the frustum). The 3D network works in
MonoScene's NYU layout (x, z, y) = (60, 36, 60); inputs and outputs of this module are in ours,
(x, y, z) = (60, 60, 36).

Defaults are the released NYUv2 model (feature 200, 4 relations, frustum size 8, 12 classes);
its PyTorch Lightning checkpoint loads with
:func:`models.occupancy.lightning.load_lightning_checkpoint`. ``backbone`` may be any registered
image backbone (tests use timm's tiny ``test_efficientnet`` with ``backbone_weights=None``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.occupancy import monoscene_losses as L
from models.occupancy.lifting import voxel_centres, world_to_camera
from models.occupancy.monoscene_2d import UNet2D
from models.occupancy.monoscene_3d import UNet3D
from storage.config import GRID_DIMS, VOXEL_SIZE
from storage.formats import NUM_CLASSES

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
NYU_CLASS_WEIGHTS = (0.05,) + (1.0,) * NUM_CLASSES
"""MonoScene's NYUv2 cross-entropy weights: 0.05 for free, 1 for each class."""


def project_voxels(
    cam_points: torch.Tensor, cam_k: torch.Tensor, image_hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer pixels (B, N, 2) [u, v] of camera-frame points and the in-image mask (B, N)."""
    h, w = image_hw
    z = cam_points[..., 2]
    safe_z = torch.where(z > 0, z, torch.ones_like(z))
    uv = (cam_points[..., :2] / safe_z[..., None]) * torch.stack(
        [cam_k[:, 0, 0], cam_k[:, 1, 1]], -1
    )[:, None] + cam_k[:, None, :2, 2]
    pix = torch.round(uv).long()
    fov = (z > 0) & (pix[..., 0] >= 0) & (pix[..., 0] < w) & (pix[..., 1] >= 0) & (pix[..., 1] < h)
    return pix, fov


def flosp(
    feature_map: torch.Tensor, pix: torch.Tensor, fov: torch.Tensor, scale: int
) -> torch.Tensor:
    """Features (B, C, N) read at pix // scale of a (B, C, h, w) map; zero outside `fov`."""
    b, c, h, w = feature_map.shape
    p = torch.div(pix, scale, rounding_mode="floor")
    idx = p[..., 1].clamp(0, h - 1) * w + p[..., 0].clamp(0, w - 1)
    idx = torch.where(fov, idx, torch.full_like(idx, h * w))  # → the appended zero column
    src = torch.cat([feature_map.reshape(b, c, h * w), feature_map.new_zeros(b, c, 1)], dim=2)
    return torch.gather(src, 2, idx[:, None, :].expand(-1, c, -1))


class MonoScene(nn.Module):
    """Monocular image → (B, 12, 60, 60, 36) logits; ``features`` gives the pre-head voxels."""

    head_prefix = "net_3d_decoder.ssc_head_1_4."
    """State-dict keys of the occupancy head (re-initialised at fine-tuning)."""

    def __init__(
        self,
        backbone: str = "efficientnet-b7",
        backbone_weights: str | None = "default",
        feature: int = 200,
        n_relations: int = 4,
        context_prior: bool = True,
        project_scales: tuple[int, ...] = (1, 2, 4, 8),
        frustum_size: int = 8,
        num_classes: int = NUM_CLASSES + 1,
        dims: tuple[int, int, int] = GRID_DIMS,
        voxel_size: float = VOXEL_SIZE,
    ) -> None:
        super().__init__()
        if feature % 4:
            raise ValueError(f"feature must be a multiple of 4 (bottleneck width), got {feature}")
        self.dims = tuple(dims)
        self.voxel_size = float(voxel_size)
        self.feature_dim = feature
        self.n_relations = n_relations
        self.project_scales = tuple(int(s) for s in project_scales)
        self.frustum_size = frustum_size
        self.num_classes = num_classes
        self.net_rgb = UNet2D(backbone, backbone_weights, feature)
        x, y, z = self.dims
        self.net_3d_decoder = UNet3D(num_classes, feature, (x, z, y), n_relations, context_prior)

    @property
    def head(self) -> nn.Module:
        return self.net_3d_decoder.ssc_head_1_4

    def run(
        self,
        image: torch.Tensor,
        cam_k: torch.Tensor,
        cam_pose: torch.Tensor,
        voxel_origin: torch.Tensor,
        with_head: bool = True,
    ) -> dict[str, Any]:
        """Everything a forward pass yields: features, logits, relation logits, pixels, fov."""
        b, _, h, w = image.shape
        mean, std = (image.new_tensor(v).view(1, 3, 1, 1) for v in (_MEAN, _STD))
        maps = self.net_rgb((image - mean) / std)
        # centres in float32, transform and projection in float64, as MonoScene's preprocessing
        centres = voxel_centres(voxel_origin.float(), self.voxel_size, self.dims).double()
        cam = world_to_camera(centres, cam_pose.double())
        pix, fov = project_voxels(cam, cam_k.double(), (h, w))
        x3d = sum(flosp(maps[f"1_{s}"], pix, fov, s) for s in self.project_scales)
        x3d = x3d.reshape(b, -1, *self.dims).transpose(3, 4)  # (x, y, z) → (x, z, y)
        feats, p_logits = self.net_3d_decoder.decode(x3d)
        out = {"features": feats.transpose(3, 4), "p_logits": p_logits, "pix": pix, "fov": fov}
        if with_head:
            out["logits"] = self.head(feats).transpose(3, 4)
        return out

    def features(self, image, cam_k, cam_pose, voxel_origin) -> torch.Tensor:
        """Voxel features before the head (B, feature, X, Y, Z)."""
        return self.run(image, cam_k, cam_pose, voxel_origin, with_head=False)["features"]

    def forward(self, image, cam_k, cam_pose, voxel_origin) -> torch.Tensor:
        """Logits (B, 12, X, Y, Z): free + the 11 NYU classes."""
        return self.run(image, cam_k, cam_pose, voxel_origin)["logits"]

    def loss(self, batch: dict[str, Any], class_weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """MonoScene's training losses of a batch; ``loss`` is their sum (paper §3.4)."""
        out = self.run(batch["image"], batch["cam_k"], batch["cam_pose"], batch["voxel_origin"])
        logits, target = out["logits"], batch["target"].long()
        parts = {
            "ce": L.ce_loss(logits, target, class_weights),
            "sem_scal": L.sem_scal_loss(logits, target),
            "geo_scal": L.geo_scal_loss(logits, target),
        }
        if out["p_logits"] is not None:
            small = L.downsample_labels(target.transpose(2, 3), 4, self.num_classes)
            rel = L.relation_targets(small, self.num_classes, self.n_relations)
            parts["relation"] = L.relation_loss(out["p_logits"], rel)
        if self.frustum_size:
            ids = L.frustum_ids(out["pix"], out["fov"], batch["image"].shape[2:], self.frustum_size)
            b = logits.shape[0]
            parts["frustum"] = L.frustum_proportion_loss(
                logits.reshape(b, self.num_classes, -1),
                target.reshape(b, -1),
                ids,
                self.frustum_size,
            )
        parts["loss"] = sum(parts.values())
        return parts
