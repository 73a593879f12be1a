"""Occupancy networks by name, so another design (Symphonies, ...) plugs in without new code paths.

A network is an ``nn.Module`` with ``features(image, cam_k, cam_pose, voxel_origin)`` returning
(B, D, X, Y, Z), ``forward(...)`` returning logits, a ``head`` submodule (re-initialised at
fine-tuning) and a ``feature_dim`` attribute. Its constructor takes JSON-able keyword arguments
(saved beside checkpoints to rebuild it).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from models.occupancy.monoscene_lite import MonoSceneLite

NETWORKS: dict[str, type[nn.Module]] = {"monoscene-lite": MonoSceneLite}

HEAD_PREFIX = "head."
"""State-dict keys of the occupancy head (left out when loading pretrained weights)."""


def build_network(name: str, **kwargs: Any) -> nn.Module:
    """Construct the network `name` with `kwargs`; an unknown name lists the known ones."""
    if name not in NETWORKS:
        raise ValueError(f"unknown occupancy network {name!r}; known: {sorted(NETWORKS)}")
    return NETWORKS[name](**kwargs)
