"""Tiny randomly initialised semantic models saved in their official formats (test fixtures).

Places365: a ResNet-18 saved as ``{'state_dict': {'module.…': …}}`` with torch.save, like
``resnet18_places365.pth.tar``. Mask2Former: a small Swin + Mask2Former with the 150 ADE20K
class names, saved with ``save_pretrained`` next to its image processor, loadable by path.
"""

from __future__ import annotations

from pathlib import Path

import torch

from models.places365 import build_model, save_checkpoint
from models.segmenters.mask2former import ADE20K_TO_NYU11


def places365_checkpoint(folder: Path, arch: str = "resnet18", seed: int = 0) -> Path:
    """Write `{arch}_places365.pth.tar` with random weights into `folder`; return its path."""
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{arch}_places365.pth.tar"
    save_checkpoint(build_model(arch), path, arch)
    return path


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
