"""Tiny randomly initialised semantic models saved in their official formats (test fixtures).

Places365: a ResNet-18 saved as ``{'state_dict': {'module.…': …}}`` with torch.save, like
``resnet18_places365.pth.tar``. Mask2Former: a small Swin + Mask2Former with the 150 ADE20K
class names, saved with ``save_pretrained`` next to its image processor, loadable by path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.places365 import build_model, save_checkpoint, scene_labels
from models.segmenters.mask2former import ADE20K_TO_NYU11


def places365_checkpoint(
    folder: Path, arch: str = "resnet18", seed: int = 0, favour: np.ndarray | None = None
) -> Path:
    """Write `{arch}_places365.pth.tar` with random weights into `folder`; return its path.

    `favour` (365,) replaces the classifier by a constant bias, so every image ranks the scene
    classes by it: a way to make an untrained network answer "indoor" or "outdoor" on purpose.
    """
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{arch}_places365.pth.tar"
    model = build_model(arch)
    if favour is not None:
        with torch.no_grad():
            model.fc.weight.zero_()
            model.fc.bias.copy_(torch.as_tensor(favour, dtype=torch.float32))
    save_checkpoint(model, path, arch)
    return path


def scene_bias(outdoor: bool) -> np.ndarray:
    """A Places365 bias that puts ten outdoor (or ten indoor) scenes on top."""
    flags = scene_labels().outdoor
    bias = np.zeros(len(flags), np.float32)
    bias[np.flatnonzero(flags == outdoor)[:10]] = 5.0
    return bias


def mask2former_folder(
    folder: Path, names: list[str] | None = None, size: int = 64, seed: int = 0
) -> Path:
    """Save a tiny ADE20K-style Mask2Former (+ image processor) into `folder`; return it."""
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    torch.manual_seed(seed)
    names = list(ADE20K_TO_NYU11) if names is None else names
    backbone = SwinConfig(
        embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )  # fmt: skip
    config = Mask2FormerConfig(
        backbone_config=backbone, hidden_dim=32, mask_feature_size=32, feature_size=32,
        encoder_layers=1, decoder_layers=2, num_attention_heads=2, dim_feedforward=64,
        encoder_feedforward_dim=64, num_queries=8, num_labels=len(names),
        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
    )  # fmt: skip
    Mask2FormerForUniversalSegmentation(config).save_pretrained(folder)
    processor = Mask2FormerImageProcessor(size={"shortest_edge": size, "longest_edge": 4 * size})
    processor.save_pretrained(folder)
    return folder
