"""What pretraining and fine-tuning share: opening a dataset folder, the resumable epoch loop.

The loop (AdamW, multistep ×0.1 at the configured milestones) saves ``<out>/last/`` after every
epoch (weights, optimiser, scheduler, epoch, history) and appends per-epoch metrics to
``<out>/metrics.csv`` (and TensorBoard when installed). Shuffling is seeded per epoch, so a
killed run resumed from ``last`` reaches the same weights as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from models.device import pick_device
from models.occupancy.checkpoint import (
    META_FILE,
    load_train_state,
    load_weights,
    read_meta,
    save_checkpoint,
)
from models.occupancy.registry import build_network
from storage.atomic import write_text
from storage.config import TrainConfig
from storage.formats import FormatError

DatasetKind = Literal["auto", "ytocc", "nyuv2", "occscannet"]
Step = Callable[[nn.Module, dict[str, Any]], torch.Tensor | None]
"""batch → loss, or None for a batch without training signal (skipped and counted)."""
LAST = "last"


def detect_kind(path: Path, split: str) -> str:
    """Which format a dataset folder holds (ours, MonoScene NYUv2, ISO OccScanNet)."""
    if (path / f"{split}.parquet").is_file():
        return "ytocc"
    if (path / "gathered_data").is_dir():
        return "occscannet"
    if (path / "base").is_dir() or (path / f"NYU{split}").is_dir():
        return "nyuv2"
    raise FormatError(
        f"{path}: not a dataset folder (no {split}.parquet, gathered_data/, base/ or NYU{split}/)"
    )


def open_dataset(
    path: str | os.PathLike[str],
    split: str = "train",
    kind: DatasetKind = "auto",
    image_hw: tuple[int, int] | None = None,
    rgb_root: str | os.PathLike[str] | None = None,
) -> Dataset:
    """A torch Dataset of common sample dicts over a dataset folder of any supported format."""
    path = Path(path)
    if not path.is_dir():
        raise FormatError(f"{path}: dataset folder does not exist")
    kind = detect_kind(path, split) if kind == "auto" else kind
    if kind == "ytocc":
        from storage.loaders.ytocc import YtoccDataset

        return YtoccDataset(path, split, size=tuple(image_hw) if image_hw else None)
    if kind == "nyuv2":
        from storage.loaders.nyuv2 import NYUv2Dataset

        return NYUv2Dataset(path, split, rgb_root=rgb_root, image_hw=image_hw)
    from storage.loaders.occscannet import OccScanNetDataset

    return OccScanNetDataset(path, split, image_hw=image_hw)


def label_subset(n: int, fraction: float, seed: int) -> np.ndarray:
    """A fixed, seeded, sorted subset of ``round(fraction·n)`` (≥ 1) indices of n samples."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction {fraction} must lie in (0, 1]")
    k = max(1, round(fraction * n))
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])


def subset(dataset: Dataset, fraction: float, seed: int) -> Dataset:
    """`dataset` restricted to its seeded label fraction (itself at 1.0)."""
    if fraction >= 1:
        return dataset
    return Subset(dataset, label_subset(len(dataset), fraction, seed).tolist())


def new_network(cfg: TrainConfig, feature_dim: int | None = None) -> tuple[nn.Module, dict]:
    """The configured network (seeded init) and the arguments that rebuild it."""
    args = {"feature_dim": feature_dim or cfg.feature_dim, **cfg.net_args}
    torch.manual_seed(cfg.seed)
    return build_network(cfg.network, **args), args


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _write_metrics(out_dir: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.csv`` atomically from the whole history (one row per epoch)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text(out_dir / "metrics.csv", buf.getvalue())


def _tensorboard(out_dir: Path):
    """A SummaryWriter when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out_dir / "tb"))


def fit(
    model: nn.Module,
    dataset: Dataset,
    step: Step,
    *,
    lr: float,
    cfg: TrainConfig,
    out_dir: str | os.PathLike[str],
    meta: dict[str, Any],
    resume: bool = True,
    progress: bool = True,
    empty_hint: str = "",
) -> list[dict[str, Any]]:
    """Train `model` with `step` (batch → loss) for cfg.epochs; returns the per-epoch history.

    Resumes from ``<out_dir>/last`` when it exists and `resume` is set. An epoch in which every
    batch was skipped is an error (with `empty_hint` saying why that may be).
    """
    if len(dataset) == 0:
        raise FormatError("dataset has no samples")
    out = Path(out_dir)
    device = pick_device(cfg.device)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=cfg.milestones, gamma=0.1)
    start, history = 0, []
    if resume and (out / LAST / META_FILE).is_file():
        load_weights(out / LAST, model)
        state = load_train_state(out / LAST)
        if state is not None:
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
        start = int(read_meta(out / LAST)["epoch"])
        history = list(read_meta(out / LAST).get("history", []))
    tb = _tensorboard(out) if start < cfg.epochs else None
    for epoch in range(start, cfg.epochs):
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            shuffle=True,
            generator=gen,
            num_workers=cfg.num_workers,
            drop_last=False,
        )
        model.train()
        losses, seen, skipped, t0 = [], 0, 0, time.perf_counter()
        bar = tqdm(
            loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False
        )
        for batch in bar:
            loss = step(model, to_device(batch, device))
            if loss is None:
                skipped += 1
                continue
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            seen += len(batch["name"])
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if not losses:
            raise FormatError(f"epoch {epoch + 1}: all {skipped} batches skipped; {empty_hint}")
        lr_now = opt.param_groups[0]["lr"]
        sched.step()
        secs = time.perf_counter() - t0
        row = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "lr": lr_now,
            "seconds": round(secs, 3),
            "samples_per_s": round(seen / max(secs, 1e-9), 3),
            "skipped_batches": skipped,
        }
        history.append(row)
        _write_metrics(out, history)
        if tb is not None:
            tb.add_scalar("loss", row["loss"], epoch + 1)
            tb.add_scalar("lr", lr_now, epoch + 1)
        state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
        save_checkpoint(out / LAST, model, {**meta, "epoch": epoch + 1, "history": history}, state)
    if tb is not None:
        tb.close()
    return history
