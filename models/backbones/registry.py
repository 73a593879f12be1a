"""Image backbones by name: which timm architecture, which Hugging Face weights, which taps.

A backbone is built with timm (random weights, or ``pretrained=True`` from a local file that
:func:`models.weights.resolve_file` found for its Hugging Face id, so the Hub cache,
``HF_HOME`` and ``HF_HUB_OFFLINE`` are respected and a missing file ends with its
``huggingface-cli download`` line). Names not in :data:`BACKBONES` are taken as timm model
names (e.g. timm's tiny ``test_efficientnet`` in tests), with random weights unless weights are
given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from models.weights import resolve_file

Family = Literal["efficientnet", "resnet", "vit"]
WEIGHTS_FILE = "model.safetensors"
"""The file timm's Hub repos hold their weights in."""


@dataclass(frozen=True)
class BackboneSpec:
    """A named backbone: timm architecture, default Hugging Face weights, tap family."""

    timm_name: str
    weights: str | None
    family: Family


BACKBONES: dict[str, BackboneSpec] = {
    # MonoScene's 2D encoder: EfficientNet-B7 with Noisy-Student weights (gen-efficientnet's
    # `tf_efficientnet_b7_ns`, the same network and weights as timm's name below).
    "efficientnet-b7": BackboneSpec(
        "tf_efficientnet_b7", "timm/tf_efficientnet_b7.ns_jft_in1k", "efficientnet"
    ),
    "resnet50": BackboneSpec("resnet50", "timm/resnet50.a1_in1k", "resnet"),
    "dinov2-small": BackboneSpec(
        "vit_small_patch14_dinov2", "timm/vit_small_patch14_dinov2.lvd142m", "vit"
    ),
    "dinov2-base": BackboneSpec(
        "vit_base_patch14_dinov2", "timm/vit_base_patch14_dinov2.lvd142m", "vit"
    ),
}


def spec_of(name: str) -> BackboneSpec:
    """The spec of a named backbone, or of a bare timm model name (no default weights)."""
    if name in BACKBONES:
        return BACKBONES[name]
    import timm

    if not timm.is_model(name):
        raise ValueError(
            f"unknown backbone {name!r}: not one of {sorted(BACKBONES)} nor a timm model name"
        )
    family: Family = "vit" if "vit" in name else "resnet" if "resnet" in name else "efficientnet"
    return BackboneSpec(name, None, family)


def weights_id(name: str, weights: str | None = "default") -> str | None:
    """The weights a backbone will load: 'default' → its Hub id, None → random init."""
    if weights == "default":
        return spec_of(name).weights
    return weights


def create_backbone(name: str, weights: str | None = "default", **timm_kwargs) -> nn.Module:
    """The timm model of backbone `name`, classifier and pooling removed.

    `weights`: 'default' (the spec's Hugging Face id), a Hub id, ``owner/repo/file`` or a local
    file, or None for random weights. Raises :class:`models.weights.WeightsNotFound` (with the
    fetch command) when the weights are neither local nor in the Hub cache.
    """
    import timm

    spec = spec_of(name)
    kwargs = {"num_classes": 0, "global_pool": "", **timm_kwargs}
    if spec.family == "vit":
        kwargs.setdefault("dynamic_img_size", True)
        kwargs.setdefault("dynamic_img_pad", True)
    source = weights_id(name, weights)
    if source is None:
        return timm.create_model(spec.timm_name, pretrained=False, **kwargs)
    path = resolve_file(source, WEIGHTS_FILE, what=f"backbone {name}")
    return timm.create_model(
        spec.timm_name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **kwargs
    )
