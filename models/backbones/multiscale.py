"""One feature map per stride 2, 4, 8, 16 and 32 from any registered backbone.

The wrapped timm model sits at ``original_model`` (MonoScene's name, so its checkpoints load
without renaming). CNN taps are forward hooks on the modules timm's ``feature_info`` names for
strides 2–16, and for stride 32 on ``conv_head`` (EfficientNet: its output before the last
BatchNorm, as MonoScene taps it) or the last stage (ResNet). A ViT (DINOv2) has one stride (its
patch): five evenly spaced blocks' patch tokens are bilinearly resized to the five strides.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.backbones.registry import create_backbone, spec_of

STRIDES = (2, 4, 8, 16, 32)


class MultiScaleEncoder(nn.Module):
    """Image (B, 3, H, W), normalised → list of 5 maps (B, C_i, ⌈H/s⌉, ⌈W/s⌉), s in STRIDES."""

    def __init__(self, name: str, weights: str | None = "default", **timm_kwargs) -> None:
        super().__init__()
        self.family = spec_of(name).family
        self.original_model = create_backbone(name, weights, **timm_kwargs)
        m = self.original_model
        if self.family == "vit":
            n = len(m.blocks)
            self.blocks = [round(i * (n - 1) / (len(STRIDES) - 1)) for i in range(len(STRIDES))]
            self.channels = [int(m.embed_dim)] * len(STRIDES)
            return
        by_stride = {int(f["reduction"]): f for f in m.feature_info}
        self.taps = [by_stride[s]["module"] for s in STRIDES[:-1]]
        if self.family == "efficientnet":
            self.taps.append("conv_head")
            last = int(m.conv_head.out_channels)
        else:
            self.taps.append(by_stride[32]["module"])
            last = int(by_stride[32]["num_chs"])
        self.channels = [int(by_stride[s]["num_chs"]) for s in STRIDES[:-1]] + [last]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.family == "vit":
            return self._vit(x)
        out: dict[str, torch.Tensor] = {}
        modules = dict(self.original_model.named_modules())
        hooks = [
            modules[name].register_forward_hook(
                lambda _m, _i, y, name=name: out.__setitem__(name, y)
            )
            for name in self.taps
        ]
        try:
            self.original_model.forward_features(x)
        finally:
            for h in hooks:
                h.remove()
        return [out[name] for name in self.taps]

    def _vit(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[2:]
        maps = self.original_model.forward_intermediates(
            x, indices=self.blocks, output_fmt="NCHW", intermediates_only=True
        )
        return [
            F.interpolate(f, size=(-(-h // s), -(-w // s)), mode="bilinear", align_corners=False)
            for f, s in zip(maps, STRIDES, strict=True)
        ]
