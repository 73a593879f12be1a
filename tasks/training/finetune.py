"""Fine-tuning on occupancy labels: pretrained weights except the head (re-initialised), a seeded
label fraction, and the network's own losses (``model.loss``, e.g. MonoScene's five) or else
class-weighted cross-entropy over voxels whose target is not 255.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from prefect import task
from torch import nn
from torch.utils.data import Dataset

from models.occupancy.monoscene import NYU_CLASS_WEIGHTS
from storage.config import TrainConfig
from storage.formats import NUM_CLASSES, OCCUPIED, UNKNOWN, FormatError
from tasks.training.trainer import DatasetKind, fit, init_network, open_dataset, subset

N_LABELS = NUM_CLASSES + 1


def class_counts(dataset: Dataset) -> np.ndarray:
    """Voxel count of each label 0..11 over the dataset's targets (255 ignored); FormatError on
    a geometry-only sample (it has no classes to fine-tune on)."""
    counts = np.zeros(N_LABELS, np.int64)
    for i in range(len(dataset)):
        t = np.asarray(dataset[i]["target"]).reshape(-1)
        if (t == OCCUPIED).any():
            raise FormatError(
                f"sample {i} is geometry-only (254: occupied, no class; segment.backend none): "
                "fine-tuning needs classes; pretrain on it, or run segment with a segmenter"
            )
        counts += np.bincount(t[t != UNKNOWN], minlength=N_LABELS)[:N_LABELS]
    return counts


def class_weights(counts: np.ndarray, mode: str) -> np.ndarray:
    """Cross-entropy weights: ENet's 1/ln(1.02 + frequency), ones, or MonoScene's NYUv2 ones."""
    if mode == "none":
        return np.ones(N_LABELS, np.float32)
    if mode == "monoscene-nyu":
        return np.array(NYU_CLASS_WEIGHTS, np.float32)
    freq = counts / max(int(counts.sum()), 1)
    return (1.0 / np.log(1.02 + freq)).astype(np.float32)


def occupancy_step(weights: torch.Tensor):
    """A training step: batch → the network's losses ({"loss": total, parts}) if it defines
    ``loss``, else the weighted cross-entropy of its logits (255 ignored)."""

    def step(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor | dict[str, torch.Tensor]:
        if hasattr(model, "loss"):
            return model.loss(batch, weights.to(batch["image"].device))
        logits = model(batch["image"], batch["cam_k"], batch["cam_pose"], batch["voxel_origin"])
        target = batch["target"].long()
        return F.cross_entropy(
            logits, target, weight=weights.to(logits.device), ignore_index=UNKNOWN
        )

    return step


def finetune(
    dataset: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    cfg: TrainConfig,
    *,
    init: str | os.PathLike[str] | None = None,
    label_fraction: float = 1.0,
    kind: DatasetKind = "auto",
    split: str = "train",
    rgb_root: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: bool = True,
) -> Path:
    """Fine-tune on a seeded label fraction of a dataset folder; returns the checkpoint folder."""
    data = subset(
        open_dataset(dataset, split, kind, cfg.image_hw, rgb_root), label_fraction, cfg.seed
    )
    model, net_meta = init_network(cfg, init, skip_head=True)
    weights = torch.from_numpy(class_weights(class_counts(data), cfg.class_weighting))
    meta = {
        "kind": "finetune",
        **net_meta,
        "dataset": str(dataset),
        "init": str(init) if init else None,
        "label_fraction": label_fraction,
        "class_weights": weights.tolist(),
        "config": cfg.model_dump(mode="json"),
    }
    fit(
        model,
        data,
        occupancy_step(weights),
        lr=cfg.finetune_lr,
        cfg=cfg,
        out_dir=out_dir,
        meta=meta,
        resume=resume,
        progress=progress,
    )
    return Path(out_dir) / "last"


finetune_task = task(name="finetune")(finetune)
