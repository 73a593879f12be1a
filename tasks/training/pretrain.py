"""Label-free pretraining: superpixel–supervoxel contrastive distillation of DINOv2 into the net.

Per image: DINOv2 pixel features (frozen), superpixels (the dataset's region masks, or SLIC
where a frame has none or when configured), ρ by depth back-projection, supervoxels by majority
vote; InfoNCE (τ = cfg.temperature) over all matched pairs of the batch. Any registered network
works (the method is model-agnostic): one whose feature width is an argument is built with the
embedder's width; for any other a 1×1×1 projection to that width is trained with it (kept in
the train state, not in the weights fine-tuning loads). Pretraining starts from random weights
(with the backbone's pretrained ones) or from a checkpoint (``init``: a folder of ours or
MonoScene's released ``.ckpt``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from prefect import task
from skimage.segmentation import slic
from torch import nn

from models.contrastive import (
    info_nce,
    matched_features,
    pixel_to_voxel,
    retrieval_top1,
    supervoxels,
)
from models.device import pick_device
from models.embed import embed_dim, load_embedder, pixel_features
from storage.config import TrainConfig
from storage.formats import FormatError
from tasks.training.trainer import DatasetKind, fit, init_network, open_dataset


def superpixels(image: np.ndarray, regions: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """Superpixel id per pixel (H,W): the region mask, or SLIC on the RGB (H,W,3) in [0,1]."""
    if cfg.superpixels == "regions" and (regions >= 0).any():
        return regions
    return slic(image, n_segments=cfg.slic_segments, start_label=0, channel_axis=-1).astype(
        np.int32
    )


def sample_pairs(
    pix_feats: torch.Tensor,
    vox_feats: torch.Tensor,
    sample: dict[str, Any],
    cfg: TrainConfig,
    voxel_size: float,
    dims: tuple[int, int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Matched (superpixel, supervoxel) features of one image on the pixel sub-grid."""
    s = cfg.pixel_stride
    depth = sample["depth"].cpu().numpy()
    if not (depth > 0).any():
        raise FormatError(f"{sample['name']}: no depth; pretraining needs depth for ρ")
    image = sample["image"].permute(1, 2, 0).cpu().numpy()
    regions = superpixels(image, sample["regions"].cpu().numpy(), cfg)
    rho = pixel_to_voxel(
        depth,
        sample["cam_k"].cpu().numpy(),
        sample["cam_pose"].cpu().numpy(),
        sample["voxel_origin"].cpu().numpy(),
        voxel_size,
        dims,
    ).reshape(depth.shape)[s // 2 :: s, s // 2 :: s]
    regions = regions[s // 2 :: s, s // 2 :: s]
    sv_vox, sv_reg = supervoxels(rho.reshape(-1), regions)
    dev = vox_feats.device
    return matched_features(
        pix_feats,
        torch.from_numpy(regions).to(dev),
        vox_feats.reshape(vox_feats.shape[0], -1),
        torch.from_numpy(sv_vox).to(dev),
        torch.from_numpy(sv_reg).to(dev),
    )


NO_PAIRS = "no pixel back-projects into its voxel grid (check depth, cam_pose and voxel_origin)"


def projection(feature_dim: int, embed_width: int) -> nn.Module:
    """Voxel features → the embedder's width: identity when equal, else a 1×1×1 conv."""
    if feature_dim == embed_width:
        return nn.Identity()
    return nn.Conv3d(feature_dim, embed_width, kernel_size=1)


def contrastive_step(embedder: nn.Module, cfg: TrainConfig, project: nn.Module | None = None):
    """A training step: batch → {"loss": InfoNCE over the batch's matched pairs, "metrics":
    {"top1": supervoxel→superpixel retrieval accuracy, "chance_top1": 1/pairs, "pairs": pairs}}
    (None if the batch has no pair).

    `project` maps the network's voxel features to the embedder's width (identity if None).
    """
    project = project or nn.Identity()

    def step(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor | None:
        image = batch["image"]
        s = cfg.pixel_stride
        h, w = image.shape[2:]
        sub_hw = (len(range(s // 2, h, s)), len(range(s // 2, w, s)))
        pix = pixel_features(embedder, image, sub_hw, cfg.embed_input_size)
        vox = project(
            model.features(image, batch["cam_k"], batch["cam_pose"], batch["voxel_origin"])
        )
        pairs = [
            sample_pairs(
                pix[b],
                vox[b],
                {k: v[b] for k, v in batch.items()},
                cfg,
                model.voxel_size,
                model.dims,
            )
            for b in range(image.shape[0])
        ]
        sp = torch.cat([p[0] for p in pairs])
        sv = torch.cat([p[1] for p in pairs])
        if not len(sp):
            return None
        n = torch.tensor(float(len(sp)))
        metrics = {"top1": retrieval_top1(sv, sp), "chance_top1": 1 / n, "pairs": n}
        return {"loss": info_nce(sv, sp, cfg.temperature), "metrics": metrics}

    return step


def pretrain(
    dataset: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    cfg: TrainConfig,
    *,
    kind: DatasetKind = "auto",
    split: str = "train",
    init: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: bool = True,
) -> Path:
    """Pretrain on a dataset folder; returns the checkpoint folder.

    The network is the configured one, fresh, or the one checkpoint `init` holds with all its
    weights (see :func:`tasks.training.trainer.init_network`).
    """
    data = open_dataset(dataset, split, kind, cfg.image_hw)
    embedder = load_embedder(cfg.embed_weights, str(pick_device(cfg.device)))
    width = embed_dim(embedder)
    model, net_meta = init_network(cfg, init, skip_head=False, feature_dim=width)
    project = projection(int(model.feature_dim), width)
    meta = {
        "kind": "pretrain",
        **net_meta,
        "dataset": str(dataset),
        "init": str(init) if init else None,
        "config": cfg.model_dump(mode="json"),
    }
    fit(
        model,
        data,
        contrastive_step(embedder, cfg, project),
        lr=cfg.pretrain_lr,
        cfg=cfg,
        out_dir=out_dir,
        meta=meta,
        resume=resume,
        progress=progress,
        empty_hint=NO_PAIRS,
        extra={"projector": project} if isinstance(project, nn.Conv3d) else None,
    )
    return Path(out_dir) / "last"


pretrain_task = task(name="pretrain")(pretrain)
