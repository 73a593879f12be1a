"""Checkpoints: weights as safetensors, optimiser/scheduler state for resuming, a JSON of the run.

A checkpoint folder holds ``model.safetensors`` (the network), ``train_state.pt`` (optimiser,
scheduler, gradient-scaler and RNG state; loaded with ``weights_only=True``) and
``checkpoint.json`` (network name and arguments, epoch, config, metrics). Every file is written
atomically; the JSON last, so a folder without it is an interrupted save and is ignored.
:func:`load_network`, :func:`checkpoint_meta` and :func:`load_weights` also take MonoScene's
released Lightning ``.ckpt`` files (:mod:`models.occupancy.lightning`), read weights-only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from models.occupancy.registry import build_network, head_prefix
from models.torch_files import CheckpointError, load_weights_only
from storage.atomic import atomic_path, read_json, write_json

MODEL_FILE = "model.safetensors"
STATE_FILE = "train_state.pt"
META_FILE = "checkpoint.json"


def save_checkpoint(
    folder: str | os.PathLike[str],
    model: nn.Module,
    meta: dict[str, Any],
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write weights (+ optional resumable state) and `meta` (must hold 'network', 'net_args')."""
    folder = Path(folder)
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(folder / MODEL_FILE) as tmp:
        save_file(weights, str(tmp))
    if train_state is not None:
        with atomic_path(folder / STATE_FILE) as tmp:
            torch.save(train_state, tmp)
    write_json(folder / META_FILE, meta)
    return folder


def read_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``checkpoint.json`` of a finished save; a clear error when there is none."""
    path = Path(folder) / META_FILE
    if not path.is_file() or not (Path(folder) / MODEL_FILE).is_file():
        raise CheckpointError(f"{folder}: not a checkpoint (needs {MODEL_FILE} and {META_FILE})")
    return read_json(path)


def is_lightning(path: str | os.PathLike[str]) -> bool:
    """Whether `path` names a Lightning ``.ckpt`` file (else a checkpoint folder of ours)."""
    return Path(path).suffix == ".ckpt"


def checkpoint_meta(path: str | os.PathLike[str], **overrides: Any) -> dict[str, Any]:
    """The meta of a checkpoint folder, or {"network", "net_args"} of a released ``.ckpt``
    (its arguments from the state dict's shapes, then `overrides`, e.g. a smaller backbone)."""
    if is_lightning(path):
        from models.occupancy.lightning import lightning_meta

        return lightning_meta(path, **overrides)
    return read_meta(path)


def load_network(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", **overrides: Any
) -> nn.Module:
    """Rebuild the network a checkpoint was saved from and load all its weights.

    `path` is a checkpoint folder, or a Lightning ``.ckpt`` of MonoScene (then `overrides`
    are MonoScene arguments, e.g. a smaller backbone in tests). No pretrained backbone weights
    are looked up: the checkpoint holds them.
    """
    if is_lightning(path):
        from models.occupancy.lightning import load_lightning_checkpoint

        return load_lightning_checkpoint(path, device, **overrides)
    meta = read_meta(path)
    model = build_network(meta["network"], pretrained=False, **meta["net_args"])
    load_weights(path, model)
    return model.to(device)


def load_weights(
    folder: str | os.PathLike[str], model: nn.Module, *, skip_head: bool = False
) -> list[str]:
    """Load a checkpoint's weights into `model` (all, or all but the head); returns skipped keys.

    `folder` is a checkpoint folder or a released Lightning ``.ckpt`` (its ``state_dict``).
    Any other missing or unexpected key, or a shape that differs, is a :class:`CheckpointError`.
    """
    if is_lightning(folder):
        from models.occupancy.lightning import read_lightning

        path = Path(folder)
        weights = read_lightning(path)["state_dict"]
    else:
        path = Path(folder) / MODEL_FILE
        if not path.is_file():
            raise CheckpointError(f"{path}: missing")
        weights = load_file(str(path))
    head = head_prefix(model)
    skipped = sorted(k for k in weights if skip_head and k.startswith(head))
    weights = {k: v for k, v in weights.items() if k not in skipped}
    own = model.state_dict()
    expected = {k for k in own if not (skip_head and k.startswith(head))}
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise CheckpointError(
            f"{path}: keys do not fit the network (missing {missing[:5]}, extra {extra[:5]})"
        )
    bad = [k for k, v in weights.items() if v.shape != own[k].shape]
    if bad:
        raise CheckpointError(f"{path}: shapes differ for {bad[:5]}")
    model.load_state_dict(weights, strict=not skip_head)
    return skipped


def load_train_state(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The resumable state saved with a checkpoint, or None when it has none."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return None
    return load_weights_only(path)
