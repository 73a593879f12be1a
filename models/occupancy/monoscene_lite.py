"""The default occupancy network: 2D encoder → FLoSP lifting → 3D U-Net → D-dim features → head.

A plain-torch network in MonoScene's spirit, sized by arguments so tests run a tiny one on CPU.
The 3D input also carries each voxel's camera-frame position and a Fourier encoding of its grid
index (``pos_freqs`` octaves), so the net knows where a voxel lies, even outside the frustum,
down to one voxel. The last feature dim ``feature_dim`` matches the 2D embedding
width (DINOv2) for contrastive pretraining; ``head`` maps it to 12 logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.occupancy.lifting import project, sample_pyramid, voxel_centres, world_to_camera
from storage.config import GRID_DIMS, VOXEL_SIZE
from storage.formats import NUM_CLASSES

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
POSITION_SCALE_M = 5.0
"""Camera-frame voxel positions are divided by this to keep the position channels near ±1."""


def grid_fourier(dims: tuple[int, int, int], freqs: int, device: torch.device) -> torch.Tensor:
    """sin/cos of 2^k·π·(normalised grid index), k < freqs: (6·freqs, X, Y, Z)."""
    axes = [(torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n for n in dims]
    u = torch.stack(torch.meshgrid(*axes, indexing="ij"))  # (3, X, Y, Z)
    scaled = torch.cat([u * (2.0**k * torch.pi) for k in range(freqs)])
    return torch.cat([scaled.sin(), scaled.cos()])


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm (batch-size independent, no running statistics to drift)."""
    return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)


def _block2d(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), _norm(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), _norm(cout), nn.ReLU(inplace=True),
    )  # fmt: skip


def _block3d(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, stride, 1, bias=False), _norm(cout), nn.ReLU(inplace=True),
        nn.Conv3d(cout, cout, 3, 1, 1, bias=False), _norm(cout), nn.ReLU(inplace=True),
    )  # fmt: skip


class Encoder2D(nn.Module):
    """Strided conv stages; returns one feature map per stage (strides 2, 4, 8, ...)."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        chans = (3, *widths)
        self.stages = nn.ModuleList(
            _block2d(a, b, 2) for a, b in zip(chans, chans[1:], strict=False)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


class UNet3D(nn.Module):
    """A 3D U-Net over the voxel grid: `len(widths)` levels, each halving the grid."""

    def __init__(self, cin: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        prev = cin
        for i, w in enumerate(widths):
            self.down.append(_block3d(prev, w, 1 if i == 0 else 2))
            prev = w
        self.up = nn.ModuleList(
            _block3d(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(len(widths) - 1))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[2:], mode="trilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return x


class MonoSceneLite(nn.Module):
    """Monocular image → voxel features (B, D, X, Y, Z) and 12-class logits."""

    def __init__(
        self,
        feature_dim: int = 384,
        enc_widths: tuple[int, ...] = (32, 64, 128, 256),
        lift_dim: int = 32,
        unet_widths: tuple[int, ...] = (32, 64, 128),
        dims: tuple[int, int, int] = GRID_DIMS,
        voxel_size: float = VOXEL_SIZE,
        num_classes: int = NUM_CLASSES + 1,
        pos_freqs: int = 6,
    ) -> None:
        super().__init__()
        self.dims = tuple(dims)
        self.voxel_size = float(voxel_size)
        self.feature_dim = feature_dim
        self.encoder = Encoder2D(tuple(enc_widths))
        self.lift = nn.ModuleList(nn.Conv2d(w, lift_dim, 1) for w in enc_widths)
        self.register_buffer(
            "fourier", grid_fourier(self.dims, pos_freqs, torch.device("cpu")), persistent=False
        )
        self.unet = UNet3D(lift_dim + 3 + 6 * pos_freqs, tuple(unet_widths))
        self.project = nn.Conv3d(unet_widths[0], feature_dim, 1)
        self.head = nn.Conv3d(feature_dim, num_classes, 1)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def features(
        self,
        image: torch.Tensor,
        cam_k: torch.Tensor,
        cam_pose: torch.Tensor,
        voxel_origin: torch.Tensor,
    ) -> torch.Tensor:
        """Voxel features (B, feature_dim, X, Y, Z) of images (B, 3, H, W) in [0, 1]."""
        b, _, h, w = image.shape
        pyramid = [
            lift(f)
            for lift, f in zip(self.lift, self.encoder((image - self.mean) / self.std), strict=True)
        ]
        cam = world_to_camera(voxel_centres(voxel_origin, self.voxel_size, self.dims), cam_pose)
        grid, mask = project(cam, cam_k, (h, w))
        lifted = sample_pyramid(pyramid, grid, mask)
        pos = (cam / POSITION_SCALE_M).transpose(1, 2)
        x = torch.cat([lifted, pos.to(lifted.dtype)], dim=1).reshape(b, -1, *self.dims)
        x = torch.cat([x, self.fourier.to(x.dtype).expand(b, -1, -1, -1, -1)], dim=1)
        return self.project(self.unet(x))

    def forward(
        self,
        image: torch.Tensor,
        cam_k: torch.Tensor,
        cam_pose: torch.Tensor,
        voxel_origin: torch.Tensor,
    ) -> torch.Tensor:
        """Logits (B, 12, X, Y, Z): free + the 11 NYU classes."""
        return self.head(self.features(image, cam_k, cam_pose, voxel_origin))
