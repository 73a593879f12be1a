"""DINOv2 per-pixel features (patch tokens upsampled to pixels), the 2D teacher of pretraining.

Weights come from a local folder or a Hugging Face id through :mod:`models.weights`; the model is
loaded once per process (cache keyed by spec and device) and kept frozen.
"""

from __future__ import annotations

import functools
import math
import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.backends import WeightSpec
from models.weights import WeightsNotFound, resolve_dir

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


@functools.lru_cache(maxsize=2)
def load_embedder(spec: str, device: str = "cpu") -> nn.Module:
    """The frozen DINOv2 model at `spec` (folder or HF id) on `device`, in eval mode.

    Weights are read as safetensors or weights-only pickles (transformers' ``weights_only``
    default); a folder without a loadable model, or whose pickle names anything but tensors
    and containers, is a :class:`WeightsNotFound` naming the folder.
    """
    from transformers import AutoModel

    folder = resolve_dir(spec, what="DINOv2 embedder")
    try:
        model = AutoModel.from_pretrained(folder)
    except OSError as e:
        raise WeightsNotFound(f"DINOv2 embedder: {folder} holds no loadable model ({e})") from e
    except pickle.UnpicklingError as e:
        raise WeightsNotFound(
            f"DINOv2 embedder: {folder} holds weights that weights-only loading refuses (its "
            "pickle names code or classes, not only tensors); if you trust them, re-save them "
            "as safetensors"
        ) from e
    model.requires_grad_(False)
    return model.eval().to(device)


def embed_dim(model: nn.Module) -> int:
    """Width of the model's patch features (D of the occupancy net's last layer)."""
    return int(model.config.hidden_size)


@torch.no_grad()
def pixel_features(
    model: nn.Module, image: torch.Tensor, out_hw: tuple[int, int], input_short_side: int = 224
) -> torch.Tensor:
    """Per-pixel features (B, D, *out_hw) of RGB images (B, 3, H, W) in [0, 1].

    The image is resized so its short side is about `input_short_side`, both sides a multiple
    of the patch size; patch tokens (after the CLS and register tokens) are bilinearly
    upsampled to `out_hw`.
    """
    cfg = model.config
    patch = int(cfg.patch_size)
    h, w = image.shape[2:]
    scale = input_short_side / min(h, w)
    gh, gw = max(1, math.ceil(h * scale / patch)), max(1, math.ceil(w * scale / patch))
    x = F.interpolate(image, size=(gh * patch, gw * patch), mode="bilinear", align_corners=False)
    mean = x.new_tensor(_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(_STD).view(1, 3, 1, 1)
    tokens = model(pixel_values=(x - mean) / std).last_hidden_state
    skip = 1 + int(getattr(cfg, "num_register_tokens", 0) or 0)
    grid = tokens[:, skip:].transpose(1, 2).reshape(image.shape[0], -1, gh, gw)
    return F.interpolate(grid, size=out_hw, mode="bilinear", align_corners=False)


def save_random_dinov2(folder, hidden_size: int = 16, layers: int = 1, image_size: int = 56,
                       seed: int = 0) -> str:  # fmt: skip
    """A randomly initialised DINOv2 in the official transformers format (tests, offline demo)."""
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(seed)
    cfg = Dinov2Config(hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=2,
                       intermediate_size=2 * hidden_size, patch_size=14, image_size=image_size)  # fmt: skip
    Dinov2Model(cfg).save_pretrained(folder)
    return str(folder)


def required_weights(spec: str) -> list[WeightSpec]:
    """The DINOv2 model pretraining distils (``train.embed_weights``: a folder or Hub id), for a
    preflight: located (folder with ``config.json``) without loading it."""

    def locate() -> Path:
        folder = resolve_dir(spec, what="DINOv2 embedder")
        if not (folder / "config.json").is_file():
            raise WeightsNotFound(f"DINOv2 embedder: {folder} holds no config.json")
        return folder

    return [WeightSpec("train", "dinov2", spec, "DINOv2 embedder", locate)]
