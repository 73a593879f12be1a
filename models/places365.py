"""Places365 scene classifier: the official checkpoints, labels, preprocessing and indoor score.

Owns the 365 category names and indoor/outdoor flags (package data in ``models/labels/`` copied from
CSAILVision/places365: ``categories_places365.txt``, ``IO_places365.txt``), the three official
architectures (ResNet-18, WideResNet-18 = ResNet-18 without the stem max-pool, ResNet-50), loading
their ``torch.save``'d checkpoints (``state_dict`` with a ``module.`` prefix) with
``weights_only=True``, the demo's preprocessing (resize 256, centre crop 224, ImageNet
normalisation) and its indoor rule: a frame is outdoor when the mean outdoor flag of its top-10
classes reaches 0.5.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from models.device import pick_device
from models.torch_files import CheckpointError, load_weights_only
from models.weights import WeightsNotFound, download_command, resolve_file

ARCHS: tuple[str, ...] = ("resnet18", "wideresnet18", "resnet50")
NUM_SCENES = 365
OFFICIAL_URL = "http://places2.csail.mit.edu/models_places365/{arch}_places365.pth.tar"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class SceneLabels:
    """The 365 scene names (e.g. 'living_room') and whether each is an outdoor scene."""

    names: tuple[str, ...]
    outdoor: np.ndarray  # bool (365,)


@lru_cache(maxsize=1)
def scene_labels() -> SceneLabels:
    """Read the shipped category names and indoor(1)/outdoor(2) flags, in class-id order."""
    data = resources.files("models") / "labels"
    cats = (data / "places365_categories.txt").read_text().split("\n")
    io = (data / "places365_io.txt").read_text().split("\n")
    names = [line.split(" ")[0][3:] for line in cats if line.strip()]
    flags = np.array([int(line.split()[-1]) for line in io if line.strip()]) == 2
    if len(names) != NUM_SCENES or flags.shape != (NUM_SCENES,):
        raise RuntimeError(
            f"Places365 package data is damaged ({len(names)} names, {flags.size} flags)"
        )
    return SceneLabels(tuple(names), flags)


def build_model(arch: str) -> nn.Module:
    """An untrained Places365 network of `arch` with the official layer names."""
    if arch == "resnet50":
        return torchvision.models.resnet50(num_classes=NUM_SCENES)
    if arch in ("resnet18", "wideresnet18"):
        model = torchvision.models.resnet18(num_classes=NUM_SCENES)
        if arch == "wideresnet18":  # the Places365 WideResNet-18 keeps full resolution after conv1
            model.maxpool = nn.Identity()
        return model
    raise ValueError(f"unknown Places365 arch {arch!r}; choose one of {', '.join(ARCHS)}")


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike[str], arch: str, legacy: bool = False
) -> None:
    """Save `model` the way the official checkpoints are: {'state_dict': {'module.'+key: ...}}.

    `legacy` writes PyTorch's pre-1.6 (non-zip) serialisation, as the published files use.
    """
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    ckpt = {"epoch": 0, "arch": arch, "state_dict": state, "best_prec1": 0.0}
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict of an official checkpoint, `module.` prefix removed (weights_only load)."""
    ckpt = load_weights_only(path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a Places365 checkpoint (no tensor 'state_dict')")
    return {k.removeprefix("module."): v for k, v in state.items()}


def resolve_checkpoint(spec: str, arch: str) -> Path:
    """A local checkpoint for `spec`: a file, a folder holding the official file name, or a Hub id."""
    filename = f"{arch}_places365.pth.tar"
    url = OFFICIAL_URL.format(arch=arch)
    local = Path(spec).expanduser()
    if str(spec).startswith((".", "/", "~")) or local.exists():
        if local.is_file():
            return local
        if (local / filename).is_file():
            return local / filename
        dest = local if local.suffix else local / filename
        raise WeightsNotFound(
            f"Places365 {arch} checkpoint not found at {local}; fetch: "
            f"`{download_command(url, dest)}`, or pass its path"
        )
    try:
        return resolve_file(spec, filename, what=f"Places365 {arch} checkpoint")
    except WeightsNotFound as e:
        raise WeightsNotFound(f"{e}; the official file is {url}") from e


@lru_cache(maxsize=4)
def load_classifier(spec: str, arch: str = "resnet18", device: str = "auto") -> nn.Module:
    """The Places365 network of `arch` with weights `spec`, in eval mode (cached per process)."""
    path = resolve_checkpoint(spec, arch)
    model = build_model(arch)
    state = read_checkpoint(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: does not fit a Places365 {arch} ({str(e).splitlines()[0]}); check --arch"
        ) from e
    return model.eval().to(pick_device(device))


def preprocess(images: np.ndarray) -> torch.Tensor:
    """uint8 (B,H,W,3) RGB → float (B,3,224,224): resize 256², centre crop 224, ImageNet norm."""
    x = (
        torch.from_numpy(np.require(images, requirements=["C", "W"])).permute(0, 3, 1, 2).float()
        / 255.0
    )
    x = F.interpolate(x, size=(256, 256), mode="bilinear", antialias=True, align_corners=False)
    x = x[:, :, 16:240, 16:240]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def classify(model: nn.Module, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Scene probabilities (N,365) float32 of uint8 RGB images (N,H,W,3), in batches."""
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            logits = model(preprocess(images[i : i + batch_size]).to(device))
            out.append(torch.softmax(logits, dim=1).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, NUM_SCENES), np.float32)


def outdoor_scores(probs: np.ndarray, outdoor: np.ndarray, top_k: int = 10) -> np.ndarray:
    """Per image, the mean outdoor flag of its `top_k` most probable classes (0 indoor … 1)."""
    top = np.argsort(-probs, axis=1)[:, :top_k]
    return outdoor[top].mean(axis=1)


def top_classes(
    probs: np.ndarray, names: tuple[str, ...], k: int = 5
) -> list[list[tuple[str, float]]]:
    """The `k` most probable (name, probability) pairs per image."""
    top = np.argsort(-probs, axis=1)[:, :k]
    return [[(names[j], float(p[j])) for j in row] for p, row in zip(probs, top, strict=True)]
