"""MonoScene's 3D network for NYUv2: a two-level 3D U-Net with the 3D context relation prior.

From MonoScene (Cao & de Charette, CVPR 2022, §3.2–3.3) and its public definition, whose
module names are kept so released checkpoints load unchanged:

- ``Bottleneck3D`` (DDRNet's factorised residual block): 1×1 reduce, then 1×1×3, 1×3×1 and
  3×1×1 convs, each adding the earlier branch outputs, 1×1 expand, residual. Its three
  average-pool shortcuts (``downsample2/3/4``) are built at every stride, as the public model
  does (so parameter counts match), and used only when striding.
- ``Process``: bottlenecks at dilations 1, 2, 3; ``Downsample``: a stride-2 bottleneck that
  doubles the width; ``Upsample``: a stride-2 transposed conv, BN, ReLU.
- ``ASPP`` (3D, LMSCNet's): for each dilation, conv–BN–ReLU–conv–BN; summed, plus input, ReLU.
- ``SegmentationHead``: 3×3×3 conv, ReLU, the ASPP block, 3×3×3 conv to the classes.
- ``CPMegaVoxels`` (3D CRP): at 1/16 of the full scene, ASPP context, a strided conv to
  "mega voxels" (2×2×2 supervoxels), and per relation a 1×1 conv giving every voxel's logit
  towards every mega voxel; sigmoid(logits) gather mega-voxel features, concatenated with the
  input and fused (1×1 conv + ``Process``). The logits (B, n_relations, M, N) feed the
  relation loss.
- ``UNet3D``: process + downsample at 1/4 (F → 2F) and 1/8 (2F → 4F), CRP at 1/16, upsample
  with additive skips, segmentation head at 1/4.

Grids here are in MonoScene's NYU layout (x, z, y) = (60, 36, 60) at 1/4.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _bn3(c: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(c)


class Bottleneck3D(nn.Module):
    """Factorised 3D residual bottleneck (out = planes · expansion channels)."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        expansion: int = 4,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        s, d = stride, dilation
        self.stride = stride
        self.conv1 = nn.Conv3d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = _bn3(planes)
        self.conv2 = nn.Conv3d(
            planes, planes, (1, 1, 3), (1, 1, s), (0, 0, d), (1, 1, d), bias=False
        )
        self.bn2 = _bn3(planes)
        self.conv3 = nn.Conv3d(
            planes, planes, (1, 3, 1), (1, s, 1), (0, d, 0), (1, d, 1), bias=False
        )
        self.bn3 = _bn3(planes)
        self.conv4 = nn.Conv3d(
            planes, planes, (3, 1, 1), (s, 1, 1), (d, 0, 0), (d, 1, 1), bias=False
        )
        self.bn4 = _bn3(planes)
        self.conv5 = nn.Conv3d(planes, planes * expansion, kernel_size=1, bias=False)
        self.bn5 = _bn3(planes * expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        for name, pool in (("downsample2", (1, s, 1)), ("downsample3", (s, 1, 1)),
                           ("downsample4", (s, 1, 1))):  # fmt: skip
            setattr(self, name, nn.Sequential(
                nn.AvgPool3d(pool, pool), nn.Conv3d(planes, planes, 1, bias=False), _bn3(planes)
            ))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        b = self.bn3(self.conv3(self.relu(a)))
        if self.stride != 1:
            a = self.downsample2(a)
        b = b + a
        c = self.bn4(self.conv4(self.relu(b)))
        if self.stride != 1:
            a, b = self.downsample3(a), self.downsample4(b)
        c = c + a + b
        out = self.bn5(self.conv5(self.relu(c)))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class Process(nn.Module):
    """Bottlenecks at the given dilations, width kept."""

    def __init__(self, feature: int, dilations: tuple[int, ...] = (1, 2, 3)) -> None:
        super().__init__()
        self.main = nn.Sequential(
            *(Bottleneck3D(feature, feature // 4, dilation=d) for d in dilations)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class Downsample(nn.Module):
    """Halve the grid, double the width (a stride-2 bottleneck with a pooled shortcut)."""

    def __init__(self, feature: int, expansion: int = 8) -> None:
        super().__init__()
        out = feature * expansion // 4
        shortcut = nn.Sequential(
            nn.AvgPool3d(2, 2), nn.Conv3d(feature, out, 1, bias=False), _bn3(out)
        )
        self.main = Bottleneck3D(feature, feature // 4, 2, 1, expansion, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class Upsample(nn.Module):
    """Double the grid: transposed conv (k3, s2), BN, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose3d(cin, cout, 3, stride=2, padding=1, output_padding=1),
            _bn3(cout),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class ASPP(nn.Module):
    """3D atrous block: Σ_d BN(conv_d(ReLU(BN(conv_d(x))))) + x, ReLU."""

    def __init__(self, planes: int, dilations: tuple[int, ...] = (1, 2, 3)) -> None:
        super().__init__()

        def convs() -> nn.ModuleList:
            return nn.ModuleList(
                nn.Conv3d(planes, planes, 3, padding=d, dilation=d, bias=False) for d in dilations
            )

        self.conv1, self.conv2 = convs(), convs()
        self.bn1 = nn.ModuleList(_bn3(planes) for _ in dilations)
        self.bn2 = nn.ModuleList(_bn3(planes) for _ in dilations)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = sum(
            bn2(c2(self.relu(bn1(c1(x)))))
            for c1, bn1, c2, bn2 in zip(self.conv1, self.bn1, self.conv2, self.bn2, strict=True)
        )
        return self.relu(y + x)


class SegmentationHead(ASPP):
    """3×3×3 conv, ReLU, ASPP block, 3×3×3 conv to class logits."""

    def __init__(self, inplanes: int, planes: int, n_classes: int) -> None:
        super().__init__(planes)
        self.conv0 = nn.Conv3d(inplanes, planes, 3, padding=1)
        self.conv_classes = nn.Conv3d(planes, n_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_classes(super().forward(self.relu(self.conv0(x))))


class CPMegaVoxels(nn.Module):
    """3D context relation prior at grid `size`; returns fused features and relation logits."""

    def __init__(self, feature: int, size: tuple[int, int, int], n_relations: int = 4) -> None:
        super().__init__()
        self.size = tuple(size)
        self.n_relations = n_relations
        self.n_voxels = math.prod(size)
        self.n_mega = math.prod(s // 2 for s in size)
        self.context_feature = 2 * feature
        pad = tuple((s + 1) % 2 for s in size)
        self.mega_context = nn.Sequential(
            nn.Conv3d(feature, self.context_feature, 3, stride=2, padding=pad)
        )
        self.context_prior_logits = nn.ModuleList(
            nn.Sequential(nn.Conv3d(feature, self.n_mega, 1)) for _ in range(n_relations)
        )
        self.aspp = ASPP(feature)
        self.resize = nn.Sequential(
            nn.Conv3d(self.context_feature * n_relations + feature, feature, 1, bias=False),
            Process(feature, dilations=(1,)),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, F, *size) → (fused (B, F, *size), relation logits (B, R, M, N))."""
        b = x.shape[0]
        agg = self.aspp(x)
        mega = self.mega_context(agg).reshape(b, self.context_feature, -1).transpose(1, 2)
        logits = torch.stack(
            [
                conv(agg).reshape(b, self.n_mega, self.n_voxels)
                for conv in self.context_prior_logits
            ],
            dim=1,
        )  # (B, R, M, N)
        context = torch.sigmoid(logits.transpose(2, 3)) @ mega[:, None]  # (B, R, N, 2F)
        context = context.permute(0, 1, 3, 2).reshape(b, -1, *self.size)
        return self.resize(torch.cat([x, context], dim=1)), logits


class UNet3D(nn.Module):
    """MonoScene's NYU 3D network on a (B, F, X, Z, Y) grid → logits and relation logits."""

    def __init__(
        self,
        n_classes: int,
        feature: int,
        full_scene_size: tuple[int, int, int],
        n_relations: int = 4,
        context_prior: bool = True,
    ) -> None:
        super().__init__()
        f = feature
        self.process_1_4 = nn.Sequential(Process(f), Downsample(f))
        self.process_1_8 = nn.Sequential(Process(2 * f), Downsample(2 * f))
        self.up_1_16_1_8 = Upsample(4 * f, 2 * f)
        self.up_1_8_1_4 = Upsample(2 * f, f)
        self.ssc_head_1_4 = SegmentationHead(f, f, n_classes)
        self.context_prior = context_prior
        if context_prior:
            size = tuple(math.ceil(s / 4) for s in full_scene_size)
            self.CP_mega_voxels = CPMegaVoxels(4 * f, size, n_relations)

    def decode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features before the head (B, F, X, Z, Y) and the relation logits (or None)."""
        x8 = self.process_1_4(x)
        x16 = self.process_1_8(x8)
        p_logits = None
        if self.context_prior:
            x16, p_logits = self.CP_mega_voxels(x16)
        up8 = self.up_1_16_1_8(x16) + x8
        return self.up_1_8_1_4(up8) + x, p_logits
