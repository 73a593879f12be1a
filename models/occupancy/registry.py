"""Occupancy networks by name, so another design plugs in without new code paths.

A network is an ``nn.Module`` with ``features(image, cam_k, cam_pose, voxel_origin)`` returning
(B, D, X, Y, Z), ``forward(...)`` returning logits (B, 12, X, Y, Z), a ``head`` (re-initialised
at fine-tuning; its state-dict prefix is ``head_prefix``, default ``head.``), ``feature_dim``
(D), ``dims`` and ``voxel_size``. It may define ``loss(batch, class_weights) → {"loss": …,
parts…}`` (its own training losses); otherwise fine-tuning uses weighted cross-entropy. Its
constructor takes JSON-able keyword arguments (saved beside checkpoints to rebuild it).

| name | what |
|---|---|
| ``monoscene-lite`` | small plain-torch net (random 2D encoder), width D set to the embedder's |
| ``monoscene`` | MonoScene (CVPR 2022) on EfficientNet-B7; loads the released NYUv2 checkpoint |
| ``symphonies`` | Symphonies (CVPR 2024): needs its repository and OpenMMLab's CUDA ops |
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from models.backends import WeightSpec
from models.occupancy.monoscene import MonoScene
from models.occupancy.monoscene_lite import MonoSceneLite
from models.occupancy.symphonies import Symphonies

NETWORKS: dict[str, type[nn.Module]] = {
    "monoscene-lite": MonoSceneLite,
    "monoscene": MonoScene,
    "symphonies": Symphonies,
}

HEAD_PREFIX = "head."
"""Default state-dict prefix of a network's occupancy head."""


def network_class(name: str) -> type[nn.Module]:
    """The class registered as `name`; an unknown name lists the known ones."""
    if name not in NETWORKS:
        raise ValueError(f"unknown occupancy network {name!r}; known: {sorted(NETWORKS)}")
    return NETWORKS[name]


def unavailable(name: str) -> str | None:
    """Why network `name` cannot be built here (its class's ``unavailable()``), or None."""
    reason = getattr(network_class(name), "unavailable", None)
    return reason() if reason else None


def accepts(name: str, arg: str) -> bool:
    """Whether network `name`'s constructor takes argument `arg`."""
    return arg in inspect.signature(network_class(name)).parameters


def build_network(name: str, *, pretrained: bool = True, **kwargs: Any) -> nn.Module:
    """Construct network `name` with `kwargs`.

    ``pretrained=False`` skips loading pretrained backbone weights (the caller loads a whole
    checkpoint next), so no weights are looked up.
    """
    cls = network_class(name)
    if not pretrained and accepts(name, "backbone_weights"):
        kwargs = {**kwargs, "backbone_weights": None}
    return cls(**kwargs)


def head_prefix(model: nn.Module) -> str:
    """State-dict prefix of `model`'s occupancy head."""
    return getattr(model, "head_prefix", HEAD_PREFIX)


def weight_specs(name: str, net_args: dict[str, Any]) -> list[WeightSpec]:
    """The preflight's view of :func:`required_weights`: located without loading anything."""
    from models.backbones.registry import WEIGHTS_FILE
    from models.weights import resolve_file

    return [
        WeightSpec("train", name, source, f"{name} image backbone",
                   lambda source=source: resolve_file(source, WEIGHTS_FILE,
                                                      what=f"{name} image backbone"))
        for source, _ in required_weights(name, net_args)
    ]  # fmt: skip


def required_weights(name: str, net_args: dict[str, Any]) -> list[tuple[str, str]]:
    """(Hugging Face id or path, file) of every pretrained file building `name` will read."""
    from models.backbones.registry import WEIGHTS_FILE, weights_id

    if not accepts(name, "backbone"):
        return []
    defaults = inspect.signature(network_class(name)).parameters
    backbone = net_args.get("backbone", defaults["backbone"].default)
    weights = net_args.get("backbone_weights", defaults["backbone_weights"].default)
    source = weights_id(backbone, weights)
    return [] if source is None else [(source, WEIGHTS_FILE)]
