"""What pretraining and fine-tuning share: opening a dataset folder, the resumable epoch loop.

The loop: AdamW, multistep ×0.1 at the configured milestones, mixed precision on a GPU
(``cfg.amp``: bfloat16 where supported, else float16 with a gradient scaler), gradient
accumulation over ``cfg.accumulate_steps`` batches, a progress bar with the epoch's and the
run's ETA. It saves ``<out>/last/`` after every epoch and every ``cfg.checkpoint_every``
optimiser steps (weights, optimiser, scheduler, scaler, RNG state, position in the epoch) and
rewrites ``<out>/metrics.csv`` and ``<out>/metrics.json`` (per-epoch loss, loss parts, lr,
throughput) and TensorBoard scalars under ``<out>/tb``. Every epoch's sample order is a
permutation seeded by (seed, epoch), so a killed run resumed from ``last`` — even mid-epoch —
reaches the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
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
    checkpoint_meta,
    is_lightning,
    load_train_state,
    load_weights,
    read_meta,
    save_checkpoint,
)
from models.occupancy.registry import accepts, build_network
from storage.atomic import write_json, write_text
from storage.config import TrainConfig
from storage.formats import FormatError

DatasetKind = Literal["auto", "ytocc", "nyuv2", "occscannet"]
Step = Callable[[nn.Module, dict[str, Any]], torch.Tensor | dict[str, Any] | None]
"""batch → loss (or {"loss": total, part: value, ..., "metrics": {name: value}}), or None for a
batch without training signal (skipped and counted). Parts are logged per epoch as
``loss_<part>``, metrics (monitored, not trained on) under their own names; both are means over
the epoch's batches."""
LAST = "last"


def detect_kind(path: Path, split: str) -> str:
    """Which format a dataset folder holds (ours, MonoScene NYUv2, ISO OccScanNet) for `split`.

    Raises FormatError naming the splits a ytocc folder has when `split` is not one of them,
    and when the folder is no dataset at all."""
    if (path / f"{split}.parquet").is_file():
        return "ytocc"
    ours = sorted(p.stem for p in path.glob("*.parquet"))
    if ours or (path / "dataset.json").is_file():
        raise FormatError(
            f"{path}: ytocc dataset without a {split!r} split"
            f" (its splits: {', '.join(ours) or 'none'}; pick one with --split)"
        )
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


def new_network(
    cfg: TrainConfig, feature_dim: int | None = None, *, pretrained: bool = True
) -> tuple[nn.Module, dict]:
    """The configured network (seeded init) and the arguments that rebuild it.

    `feature_dim` (else ``cfg.feature_dim``) sizes the voxel features of networks whose width
    is an argument (``monoscene-lite``); others keep theirs (pretraining projects them).
    ``pretrained=False`` skips pretrained backbone weights (a checkpoint is loaded next).
    """
    args = dict(cfg.net_args)
    if accepts(cfg.network, "feature_dim"):
        args = {"feature_dim": feature_dim or cfg.feature_dim, **args}
    torch.manual_seed(cfg.seed)
    return build_network(cfg.network, pretrained=pretrained, **args), args


def init_network(
    cfg: TrainConfig,
    init: str | os.PathLike[str] | None,
    *,
    skip_head: bool,
    feature_dim: int | None = None,
) -> tuple[nn.Module, dict]:
    """The network to train and its {"network", "net_args"}: fresh (``cfg.network``,
    `feature_dim` wide where the width is an argument), or rebuilt from checkpoint `init` and
    loaded (all weights, or all but the head with `skip_head`).

    `init` is a checkpoint folder of ours or MonoScene's released Lightning ``.ckpt`` (read
    weights-only; ``cfg.net_args`` then override the arguments its shapes imply, e.g. the
    backbone). A file that is unsafe, unreadable or does not fit is a CheckpointError naming it.
    """
    if init is None:
        model, args = new_network(cfg, feature_dim)
        return model, {"network": cfg.network, "net_args": args}
    meta = checkpoint_meta(init, **(cfg.net_args if is_lightning(init) else {}))
    args = dict(meta["net_args"])
    cfg = cfg.model_copy(update={"network": meta["network"], "net_args": args})
    model, args = new_network(cfg, args.get("feature_dim"), pretrained=False)
    load_weights(init, model, skip_head=skip_head)
    return model, {"network": meta["network"], "net_args": args}


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _write_logs(out_dir: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.csv`` and ``metrics.json`` atomically from the whole history."""
    fields = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(history)
    write_text(out_dir / "metrics.csv", buf.getvalue())
    write_json(out_dir / "metrics.json", {"epochs": history, "last": history[-1]})


def _tensorboard(out_dir: Path):
    """A SummaryWriter when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out_dir / "tb"))


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of an epoch: a permutation seeded by (seed, epoch)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))


def _amp(cfg: TrainConfig, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether a gradient scaler is needed) for this device."""
    if not cfg.amp or device.type != "cuda":
        return None, False
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, False
    return torch.float16, True


def _as_parts(out: torch.Tensor | dict[str, Any]) -> dict[str, Any]:
    return out if isinstance(out, dict) else {"loss": out}


class _Epoch:
    """Running sums of one epoch (saved with mid-epoch checkpoints so a resume continues them)."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.batches = int(s.get("batches", 0))
        self.sums: dict[str, float] = dict(s.get("sums", {}))
        self.metric_sums: dict[str, float] = dict(s.get("metric_sums", {}))
        self.steps = int(s.get("steps", 0))
        self.seen = int(s.get("seen", 0))
        self.skipped = int(s.get("skipped", 0))
        self.seconds = float(s.get("seconds", 0.0))

    def add(self, parts: dict[str, Any], n: int) -> None:
        for k, v in parts.items():
            if k != "metrics":
                self.sums[k] = self.sums.get(k, 0.0) + float(v.detach())
        for k, v in parts.get("metrics", {}).items():
            self.metric_sums[k] = self.metric_sums.get(k, 0.0) + float(v)
        self.steps += 1
        self.seen += n

    def state(self) -> dict[str, Any]:
        return dict(vars(self))


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
    extra: dict[str, nn.Module] | None = None,
) -> list[dict[str, Any]]:
    """Train `model` with `step` (batch → loss) for cfg.epochs; returns the per-epoch history.

    `extra` modules (e.g. pretraining's projection) are optimised with the model and saved in
    the train state. Resumes from ``<out_dir>/last`` when it exists and `resume` is set. An
    epoch in which every batch was skipped is an error (`empty_hint` says why that may be).
    """
    if len(dataset) == 0:
        raise FormatError("dataset has no samples")
    out = Path(out_dir)
    device = pick_device(cfg.device)
    extra = extra or {}
    model.to(device)
    for m in extra.values():
        m.to(device)
    params = [p for m in (model, *extra.values()) for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=cfg.milestones, gamma=0.1)
    amp_dtype, scaled = _amp(cfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=scaled)
    start, history, partial = 0, [], None
    if resume and (out / LAST / META_FILE).is_file():
        start, history, partial = _resume(out / LAST, model, extra, opt, sched, scaler)
    accumulate = max(1, cfg.accumulate_steps)
    batches = -(-len(dataset) // cfg.batch_size)
    total = batches * (cfg.epochs - start) - (partial.batches if partial else 0)
    done, run_t0 = 0, time.perf_counter()
    tb = _tensorboard(out) if start < cfg.epochs else None
    for epoch in range(start, cfg.epochs):
        ep = partial or _Epoch()
        if partial is None:
            torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout, augmentation: seeded per epoch
        partial = None
        order = epoch_order(len(dataset), cfg.seed, epoch)[ep.batches * cfg.batch_size :]
        loader = DataLoader(
            Subset(dataset, order.tolist()),
            batch_size=cfg.batch_size,
            shuffle=False,
            num_workers=cfg.num_workers,
        )
        model.train()
        t0 = time.perf_counter() - ep.seconds
        bar = tqdm(
            loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False,
            initial=ep.batches, total=batches,
        )  # fmt: skip
        opt.zero_grad(set_to_none=True)
        pending = 0
        for batch in bar:
            ep.batches += 1
            done += 1
            with autocast(device, amp_dtype):
                result = step(model, to_device(batch, device))
            if result is None:
                ep.skipped += 1
                continue
            parts = _as_parts(result)
            scaler.scale(parts["loss"] / accumulate).backward()
            ep.add(parts, len(batch["name"]))
            pending += 1
            last_batch = ep.batches == batches
            if pending == accumulate or last_batch:
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                pending = 0
                if (
                    cfg.checkpoint_every
                    and not last_batch
                    and ep.steps % (cfg.checkpoint_every * accumulate) == 0
                ):
                    ep.seconds = time.perf_counter() - t0
                    _save(out, model, extra, opt, sched, scaler, meta, epoch, history, ep)
            eta = (time.perf_counter() - run_t0) / done * (total - done)
            bar.set_postfix(loss=f"{float(parts['loss'].detach()):.4f}", run_eta=_hms(eta))
        if not ep.steps:
            raise FormatError(f"epoch {epoch + 1}: all {ep.skipped} batches skipped; {empty_hint}")
        lr_now = opt.param_groups[0]["lr"]
        sched.step()
        secs = time.perf_counter() - t0
        row = {
            "epoch": epoch + 1,
            "loss": ep.sums["loss"] / ep.steps,
            "lr": lr_now,
            "seconds": round(secs, 3),
            "samples_per_s": round(ep.seen / max(secs, 1e-9), 3),
            "skipped_batches": ep.skipped,
            **{f"loss_{k}": v / ep.steps for k, v in ep.sums.items() if k != "loss"},
            **{k: v / ep.steps for k, v in ep.metric_sums.items()},
        }
        history.append(row)
        _write_logs(out, history)
        if tb is not None:
            for k, v in row.items():
                if k.startswith("loss") or k in ("lr", "samples_per_s", *ep.metric_sums):
                    tb.add_scalar(k, v, epoch + 1)
        _save(out, model, extra, opt, sched, scaler, meta, epoch + 1, history, None)
    if tb is not None:
        tb.close()
    return history


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Mixed-precision context for `dtype` on `device`; a no-op for None (full precision)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _save(out, model, extra, opt, sched, scaler, meta, epoch, history, partial) -> None:
    """``last``: weights + resumable state; `partial` is the running epoch (None at its end)."""
    state = {
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "scaler": scaler.state_dict(),
        "extra": {k: m.state_dict() for k, m in extra.items()},
        "rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    info = {**meta, "epoch": epoch, "history": history}
    if partial is not None:
        info["partial"] = partial.state()
    save_checkpoint(out / LAST, model, info, state)


def _resume(folder: Path, model, extra, opt, sched, scaler):
    """Load ``last`` into the model, extras and optimiser; (epoch, history, running epoch)."""
    load_weights(folder, model)
    meta = read_meta(folder)
    state = load_train_state(folder)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        for k, m in extra.items():
            if k in state.get("extra", {}):
                m.load_state_dict(state["extra"][k])
        if "rng" in state:
            torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
    partial = _Epoch(meta["partial"]) if meta.get("partial") else None
    return int(meta["epoch"]), list(meta.get("history", [])), partial
