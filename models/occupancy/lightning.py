"""MonoScene's released PyTorch Lightning checkpoints (``monoscene_nyu.ckpt``), read weights-only.

The file is a pickle of {``state_dict`` (official parameter names), ``hyper_parameters``,
``callbacks``, optimiser states, ...}. It is read with ``torch.load(weights_only=True)``:
tensors, numbers, strings and containers only. Lightning's own classes that such a file names
(``AttributeDict`` containers, callback classes used as dict keys) are let in as inert
stand-ins of the same name whose instances are plain dicts; any other class in the file is refused with its
name. Only ``state_dict`` is used; it must match :class:`MonoScene`'s names and shapes exactly.
MonoScene's LightningModule holds the network itself, so its keys are ``net_rgb.*`` and
``net_3d_decoder.*``; a module that wraps the network as ``self.model`` saves ``model.net_rgb.*``,
and that common prefix is dropped.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.torch_files import CheckpointError, load_weights_only

LIGHTNING_MODULES = ("pytorch_lightning.", "lightning.", "lightning_fabric.")
"""Module prefixes whose classes a Lightning checkpoint may name; they become inert stand-ins."""


def _inert(qualified: str) -> type:
    """A class answering to `qualified` (``module.Name``) whose instances are plain dicts.

    The unpickler rebuilds a Lightning container with ``cls.__new__(cls)`` and then fills it
    with dict items: a plain dict takes them, and no Lightning code ever runs.
    """
    module, _, name = qualified.rpartition(".")
    return type(
        name, (), {"__module__": module, "__qualname__": name, "__new__": lambda cls, *a: {}}
    )


WRAPPER_PREFIX = "model."
"""Prefix of every key when a LightningModule wraps the network as ``self.model``."""


def official_names(state: dict[str, Any]) -> dict[str, Any]:
    """`state` with the ``model.`` prefix dropped when every key has it, else unchanged."""
    if state and all(k.startswith(WRAPPER_PREFIX) for k in state):
        return {k[len(WRAPPER_PREFIX) :]: v for k, v in state.items()}
    return state


def read_lightning(path: str | os.PathLike[str], *, mmap: bool = False) -> dict[str, Any]:
    """The checkpoint dict of a Lightning ``.ckpt``, loaded weights-only (see module doc).

    ``state_dict`` comes with MonoScene's names (:func:`official_names`). ``mmap=True`` maps
    the tensors instead of reading them (cheap: for a preflight or reading shapes only).
    Raises :class:`CheckpointError` (naming the file) for a missing, unreadable, unsafe or
    state-dict-less file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except (RuntimeError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a torch checkpoint ({e})") from e
    foreign = [g for g in unsafe if not g.startswith(LIGHTNING_MODULES)]
    if foreign:
        raise CheckpointError(
            f"{path}: refusing to unpickle {sorted(foreign)[:5]} (weights-only loading); if you "
            "trust the file, re-save its state_dict: torch.save({'state_dict': "
            "torch.load(PATH, weights_only=False)['state_dict']}, 'clean.ckpt')"
        )
    ckpt = load_weights_only(path, admit=[_inert(g) for g in unsafe], mmap=mmap)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"{path}: no 'state_dict' in the checkpoint")
    odd = [k for k, v in ckpt["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise CheckpointError(f"{path}: 'state_dict' holds non-tensors under {odd[:3]}")
    ckpt["state_dict"] = official_names(ckpt["state_dict"])
    return ckpt


def net_args_of(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """MonoScene arguments implied by an official state dict (feature, classes, relations)."""
    head = "net_3d_decoder.ssc_head_1_4."
    try:
        feature = int(state[head + "conv0.weight"].shape[0])
        classes = int(state[head + "conv_classes.weight"].shape[0])
    except KeyError as e:
        raise CheckpointError(f"not a MonoScene state dict (no {e.args[0]})") from e
    except IndexError as e:  # a 0-d tensor where a weight belongs
        raise CheckpointError(f"not a MonoScene state dict ({head}* are not weights)") from e
    prior = "net_3d_decoder.CP_mega_voxels.context_prior_logits."
    relations = {k[len(prior) :].split(".")[0] for k in state if k.startswith(prior)}
    return {
        "feature": feature,
        "num_classes": classes,
        "context_prior": bool(relations),
        "n_relations": len(relations) or 4,
    }


def lightning_meta(path: str | os.PathLike[str], **overrides: Any) -> dict[str, Any]:
    """{"network": "monoscene", "net_args": ...} that rebuild the network of a released
    ``.ckpt``, checked to fit it: names and shapes compared on a meta-device MonoScene, the file
    memory-mapped, so no weight is read or initialised (moments even for the 1.2 GB release).

    The arguments come from the state dict's shapes, then those `overrides` that are MonoScene
    arguments (``backbone``, ``dims``, ...; other networks' arguments do not apply). A file
    that does not fit is a CheckpointError naming it and the first differing keys.
    """
    state = read_lightning(path, mmap=True)["state_dict"]
    args = {**_net_args(path, state), **_monoscene_args(overrides)}
    _build(args, state, str(path))
    return {"network": "monoscene", "net_args": args}


def _monoscene_args(overrides: dict[str, Any]) -> dict[str, Any]:
    from models.occupancy.monoscene import MonoScene

    own = inspect.signature(MonoScene).parameters
    return {k: v for k, v in overrides.items() if k in own and k != "backbone_weights"}


def _net_args(path: str | os.PathLike[str], state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """:func:`net_args_of`, its error naming the file."""
    try:
        return net_args_of(state)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e


def _build(args: dict[str, Any], state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """MonoScene(**args) on the meta device (no init work), checked against `state`."""
    from models.occupancy.monoscene import MonoScene

    try:
        with torch.device("meta"):
            model = MonoScene(**args, backbone_weights=None)
    except (ValueError, TypeError) as e:  # e.g. an unknown backbone name
        raise CheckpointError(f"{source}: cannot build MonoScene({args}): {e}") from e
    check_fits(model, state, source)
    return model


def load_lightning_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", **overrides: Any
) -> nn.Module:
    """MonoScene built for a released checkpoint and loaded strictly (no backbone download).

    `overrides` replace constructor arguments (``backbone``, ``dims``, ...; see
    :func:`lightning_meta`); the rest come from the state dict's shapes and MonoScene's NYUv2
    defaults.
    """
    state = read_lightning(path)["state_dict"]
    args = {**_net_args(path, state), **_monoscene_args(overrides)}
    model = _build(args, state, str(path))
    model.load_state_dict(state, strict=True, assign=True)
    model.net_args = args
    return model.to(device)


def check_fits(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Missing or extra keys, or differing shapes, of `state` against `model`'s: a
    CheckpointError naming the first few."""
    own = model.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or extra:
        raise CheckpointError(
            f"{source}: {len(missing)} keys missing (e.g. {missing[:3]}), {len(extra)} unexpected "
            f"(e.g. {extra[:3]})"
        )
    bad = [
        f"{k} {tuple(v.shape)}≠{tuple(own[k].shape)}"
        for k, v in state.items()
        if v.shape != own[k].shape
    ]
    if bad:
        raise CheckpointError(f"{source}: {len(bad)} shapes differ: {bad[:3]}")
