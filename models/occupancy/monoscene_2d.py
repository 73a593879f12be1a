"""MonoScene's 2D UNet: a pretrained multi-scale encoder and a BatchNorm decoder (AdaBins-style).

Decoder (MonoScene, Cao & de Charette, CVPR 2022, §3.1 and its public definition): the
stride-32 map (``C`` channels; 2560 for EfficientNet-B7) goes through a 1×1 conv with padding 1
to C channels, then five up-steps, each bilinear upsampling (corners aligned) to the next skip
(strides 16, 8, 4, 2, then the normalised input image), concatenation and two 3×3
conv–BN–LeakyReLU, to C/2, C/4, C/8, C/16, C/32 channels. A 1×1 conv per scale maps the outputs
at strides 1, 2, 4, 8, 16 to ``out_feature`` channels (``"1_1"`` … ``"1_16"``).
Module names follow the public definition so released checkpoints load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.backbones.multiscale import MultiScaleEncoder

SCALES = ("1_1", "1_2", "1_4", "1_8", "1_16")


class UpSampleBN(nn.Module):
    """Upsample to the skip's size, concatenate, two 3×3 conv–BN–LeakyReLU."""

    def __init__(self, skip_input: int, output_features: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for cin in (skip_input, output_features):
            layers += [
                nn.Conv2d(cin, output_features, kernel_size=3, stride=1, padding=1),
                nn.BatchNorm2d(output_features),
                nn.LeakyReLU(),
            ]
        self._net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=True)
        return self._net(torch.cat([up, skip], dim=1))


class DecoderBN(nn.Module):
    """Encoder taps (strides 2..32) + the image → features at strides 1, 2, 4, 8, 16."""

    def __init__(self, skip_channels: list[int], out_feature: int) -> None:
        super().__init__()
        c2, c4, c8, c16, c32 = skip_channels
        widths = {s: c32 // 2**i for i, s in enumerate(("1_16", "1_8", "1_4", "1_2", "1_1"), 1)}
        self.conv2 = nn.Conv2d(c32, c32, kernel_size=1, stride=1, padding=1)
        self.up16 = UpSampleBN(c32 + c16, widths["1_16"])
        self.up8 = UpSampleBN(widths["1_16"] + c8, widths["1_8"])
        self.up4 = UpSampleBN(widths["1_8"] + c4, widths["1_4"])
        self.up2 = UpSampleBN(widths["1_4"] + c2, widths["1_2"])
        self.up1 = UpSampleBN(widths["1_2"] + 3, widths["1_1"])
        for s in SCALES:
            setattr(self, f"resize_output_{s}", nn.Conv2d(widths[s], out_feature, kernel_size=1))

    def forward(self, image: torch.Tensor, taps: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        t2, t4, t8, t16, t32 = taps
        x16 = self.up16(self.conv2(t32), t16)
        x8 = self.up8(x16, t8)
        x4 = self.up4(x8, t4)
        x2 = self.up2(x4, t2)
        x1 = self.up1(x2, image)
        outs = dict(zip(SCALES, (x1, x2, x4, x8, x16), strict=True))
        return {s: getattr(self, f"resize_output_{s}")(x) for s, x in outs.items()}


class UNet2D(nn.Module):
    """Normalised image (B, 3, H, W) → {"1_1": (B, F, H, W), "1_2": …, …, "1_16": …}."""

    def __init__(self, backbone: str, weights: str | None, out_feature: int) -> None:
        super().__init__()
        self.encoder = MultiScaleEncoder(backbone, weights)
        self.decoder = DecoderBN(self.encoder.channels, out_feature)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.decoder(image, self.encoder(image))
