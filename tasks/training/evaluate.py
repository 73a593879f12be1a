"""Evaluation in the SSC convention (``models.metrics.SSCMetrics``): a checkpoint (one of ours,
or MonoScene's released Lightning ``.ckpt``) on a dataset, or a folder of predictions against a
folder of ground truth; JSON and a paper-style table. On a GPU the forward pass runs in mixed
precision when ``cfg.amp`` is set.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from prefect import task
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.device import pick_device
from models.metrics import Average, SSCMetrics
from models.occupancy.checkpoint import checkpoint_meta, is_lightning, load_network
from storage.atomic import read_npz, write_json, write_text
from storage.config import TrainConfig
from storage.formats import CLASS_NAMES, FormatError
from tasks.training.trainer import DatasetKind, open_dataset, to_device

SHORT = {"furniture": "furn.", "objects": "objs."}


def _grid(path: Path, key: str) -> np.ndarray:
    """The uint8 (X,Y,Z) array `key` of an NPZ; FormatError naming the file otherwise."""
    if not path.is_file():
        raise FormatError(f"{path}: missing")
    try:
        arrays = read_npz(path)
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: unreadable npz ({e})") from e
    if key not in arrays:
        raise FormatError(f"{path}: key {key!r} missing (has {sorted(arrays)})")
    a = arrays[key]
    if a.dtype != np.uint8 or a.ndim != 3:
        raise FormatError(f"{path}: {key} is {a.dtype} {a.shape}, expected a uint8 3-D grid")
    return a


def evaluate_dirs(
    pred_dir: str | os.PathLike[str], gt_dir: str | os.PathLike[str], average: Average = "all"
) -> SSCMetrics:
    """Metrics of ``pred`` NPZs against ``target`` NPZs of the same names (every GT needs one);
    `average` as in :class:`models.metrics.SSCMetrics` (``all``: MonoScene's mIoU).

    Raises FormatError naming the first folder or file that is missing or unreadable.
    """
    for folder, what in ((pred_dir, "prediction"), (gt_dir, "ground-truth")):
        if not Path(folder).is_dir():
            raise FormatError(f"{folder}: no such {what} folder")
    gt_files = sorted(Path(gt_dir).glob("*.npz"))
    if not gt_files:
        raise FormatError(f"{gt_dir}: no .npz ground-truth files")
    metrics = SSCMetrics(average)
    for gt in gt_files:
        pred, target = _grid(Path(pred_dir) / gt.name, "pred"), _grid(gt, "target")
        if pred.shape != target.shape:
            raise FormatError(
                f"{Path(pred_dir) / gt.name}: pred is {pred.dtype} {pred.shape}, target {target.shape}"
            )
        try:
            metrics.add(pred, target)
        except ValueError as e:  # labels out of range: say which pair of files holds them
            raise FormatError(f"{Path(pred_dir) / gt.name} vs {gt}: {e}") from e
    return metrics


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    dataset: Any,
    batch_size: int = 1,
    progress: bool = True,
    amp: bool = False,
    average: Average = "all",
) -> SSCMetrics:
    """Metrics of the model's argmax predictions over a dataset of sample dicts; `average` as in
    :class:`models.metrics.SSCMetrics` (``all``: MonoScene's mIoU over the 11 classes)."""
    device = next(model.parameters()).device
    model.eval()
    metrics = SSCMetrics(average)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")
    for batch in tqdm(
        DataLoader(dataset, batch_size=batch_size), desc="eval", disable=not progress
    ):
        b = to_device(batch, device)
        with autocast:
            logits = model(b["image"], b["cam_k"], b["cam_pose"], b["voxel_origin"])
        metrics.add(logits.argmax(1).to(torch.uint8).cpu().numpy(), batch["target"].numpy())
    return metrics


def markdown_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """A table laid out like the paper's: method, IoU, the 11 class IoUs, mIoU (percent)."""
    names = [SHORT.get(n, n) for n in CLASS_NAMES]
    head = "| Method | IoU | " + " | ".join(names) + " | mIoU |"
    sep = "|" + "---|" * (len(names) + 3)

    def fmt(v: float) -> str:
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"

    lines = [head, sep]
    for method, s in rows:
        cells = [fmt(s["iou"]), *(fmt(s["per_class"][n]) for n in CLASS_NAMES), fmt(s["miou"])]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def strict_json(value: Any) -> Any:
    """NaN (a class absent from target and prediction) → None, so files are strict JSON."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict_json(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def write_metrics(summary: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """The metrics JSON: iou, miou, per_class (percent; null where a class never occurs)."""
    return write_json(out, strict_json(summary))


def write_report(summary: dict[str, Any], out: str | os.PathLike[str], method: str) -> Path:
    """`out` (metrics JSON) and the Markdown table beside it (same name, .md)."""
    out = Path(out)
    write_metrics(summary, out)
    write_text(out.with_suffix(".md"), markdown_table([(method, summary)]))
    return out


def evaluate(
    checkpoint: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    cfg: TrainConfig,
    *,
    kind: DatasetKind = "auto",
    split: str = "val",
    rgb_root: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a checkpoint on a dataset split; writes `out` JSON + table; returns the summary.

    `checkpoint` is a checkpoint folder or MonoScene's released ``.ckpt`` (``cfg.net_args``
    then override MonoScene's NYUv2 arguments). Images are resized as :func:`eval_image_hw`
    says (the summary's ``image_hw``).
    """
    overrides = cfg.net_args if is_lightning(checkpoint) else {}
    model = load_network(checkpoint, pick_device(cfg.device), **overrides)
    image_hw = eval_image_hw(checkpoint, cfg)
    data = open_dataset(dataset, split, kind, image_hw, rgb_root)
    summary = evaluate_model(model, data, cfg.batch_size, progress, cfg.amp).summary()
    summary["samples"] = len(data)
    summary["image_hw"] = list(image_hw) if image_hw else None
    write_report(summary, out, method_name(checkpoint))
    return summary


def eval_image_hw(checkpoint: str | os.PathLike[str], cfg: TrainConfig) -> tuple[int, int] | None:
    """The (H, W) images are resized to for evaluation: `cfg.image_hw` when set, else the size
    the checkpoint was trained at (its saved config), else None (the stored size; a released
    ``.ckpt`` records none). A network evaluated at another size than it learned sees objects at
    another scale in pixels, so the training size is the default."""
    if cfg.image_hw is not None or is_lightning(checkpoint):
        return cfg.image_hw
    trained = checkpoint_meta(checkpoint).get("config", {}).get("image_hw")
    return (int(trained[0]), int(trained[1])) if trained else None


def method_name(checkpoint: str | os.PathLike[str]) -> str:
    """How a checkpoint is named in tables: a ``.ckpt`` file's stem, else its run folder."""
    path = Path(checkpoint).resolve()
    return path.stem if path.suffix == ".ckpt" else path.parent.name


def per_class_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per class plus IoU and mIoU rows (percent, None where undefined): an artifact."""
    rows = [{"class": n, "iou": strict_json(summary["per_class"][n])} for n in CLASS_NAMES]
    return rows + [{"class": "mIoU", "iou": strict_json(summary["miou"])},
                   {"class": "IoU (occupied)", "iou": strict_json(summary["iou"])}]  # fmt: skip


evaluate_task = task(name="evaluate")(evaluate)
