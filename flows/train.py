"""Prefect flows of training: pretrain, finetune, evaluate, and the label-efficiency study.

They only compose the plain functions of ``tasks/training/pretrain.py``, ``tasks/training/finetune.py`` and
``tasks/training/evaluate.py``; checkpoints (resumable) and per-epoch CSVs live under the output folder,
so re-running a killed flow continues where it stopped. Each flow leaves a Markdown artifact;
evaluation also a table artifact ``per-class-iou`` (each class's IoU, mIoU, IoU).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from storage.atomic import write_json, write_text
from storage.config import TrainConfig
from tasks.training.evaluate import (
    evaluate_task,
    markdown_table,
    method_name,
    per_class_rows,
    strict_json,
)
from tasks.training.finetune import finetune_task
from tasks.training.pretrain import pretrain_task
from tasks.training.trainer import DatasetKind


def _artifact(key: str, markdown: str) -> None:
    """A Markdown artifact in the Prefect UI (keys: lowercase letters, digits, dashes)."""
    create_markdown_artifact(markdown=markdown, key=key)


@flow(name="pretrain", log_prints=True)
def pretrain_flow(
    dataset: str, out: str, cfg: TrainConfig | None = None, kind: DatasetKind = "auto"
) -> str:
    """Contrastive pretraining on a dataset folder; returns the checkpoint folder."""
    cfg = cfg or TrainConfig()
    ckpt = pretrain_task(dataset, out, cfg, kind=kind)
    _artifact("pretrain", f"Pretrained on `{dataset}` for {cfg.epochs} epochs → `{ckpt}`")
    return str(ckpt)


@flow(name="finetune", log_prints=True)
def finetune_flow(
    dataset: str,
    out: str,
    cfg: TrainConfig | None = None,
    init: str | None = None,
    label_fraction: float = 1.0,
    kind: DatasetKind = "auto",
    rgb_root: str | None = None,
) -> str:
    """Fine-tuning on a label fraction (from `init` if given); returns the checkpoint folder."""
    cfg = cfg or TrainConfig()
    ckpt = finetune_task(
        dataset, out, cfg, init=init, label_fraction=label_fraction, kind=kind, rgb_root=rgb_root
    )
    _artifact(
        "finetune",
        f"Fine-tuned on {label_fraction:.0%} of `{dataset}` from `{init or 'scratch'}` → `{ckpt}`",
    )
    return str(ckpt)


@flow(name="evaluate", log_prints=True)
def evaluate_flow(
    checkpoint: str,
    dataset: str,
    out: str,
    cfg: TrainConfig | None = None,
    split: str = "val",
    kind: DatasetKind = "auto",
    rgb_root: str | None = None,
) -> dict[str, Any]:
    """IoU / mIoU of a checkpoint on a dataset split; writes JSON + Markdown beside `out`."""
    cfg = cfg or TrainConfig()
    summary = evaluate_task(
        checkpoint, dataset, out, cfg, kind=kind, split=split, rgb_root=rgb_root
    )
    _artifact("evaluate", markdown_table([(method_name(checkpoint), summary)]))
    create_table_artifact(
        table=per_class_rows(summary),
        key="per-class-iou",
        description=f"Per-class IoU (%) of {method_name(checkpoint)} on {split} of {dataset}",
    )
    return summary


def efficiency_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one row per label fraction, mIoU / IoU from scratch and pretrained."""

    def f(v: float) -> str:
        return "–" if v is None or math.isnan(v) else f"{v:.2f}"

    lines = [
        "| Labels | Scratch mIoU | Scratch IoU | Pretrained mIoU | Pretrained IoU |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        s, p = r["scratch"], r["pretrained"]
        lines.append(
            f"| {r['fraction']:.0%} | {f(s['miou'])} | {f(s['iou'])} | "
            f"{f(p['miou'])} | {f(p['iou'])} |"
        )
    return "\n".join(lines) + "\n"


@flow(name="label_efficiency", log_prints=True)
def label_efficiency_flow(
    pretrain_dataset: str,
    finetune_dataset: str,
    out: str,
    cfg: TrainConfig | None = None,
    fractions: list[float] | None = None,
    eval_split: str = "val",
    finetune_kind: DatasetKind = "auto",
    pretrain_kind: DatasetKind = "auto",
    rgb_root: str | None = None,
) -> list[dict[str, Any]]:
    """Pretrain once; fine-tune at each label fraction with and without it; one table."""
    cfg = cfg or TrainConfig()
    root = Path(out)
    init = str(pretrain_task(pretrain_dataset, root / "pretrain", cfg, kind=pretrain_kind))
    rows = []
    for frac in fractions or cfg.label_fractions:
        row: dict[str, Any] = {"fraction": frac}
        for name, start in (("scratch", None), ("pretrained", init)):
            run = root / f"finetune-{round(frac * 100):03d}-{name}"
            ckpt = finetune_task(
                finetune_dataset,
                run,
                cfg,
                init=start,
                label_fraction=frac,
                kind=finetune_kind,
                rgb_root=rgb_root,
            )
            row[name] = evaluate_task(
                ckpt,
                finetune_dataset,
                run / "metrics.json",
                cfg,
                kind=finetune_kind,
                split=eval_split,
                rgb_root=rgb_root,
            )
        rows.append(row)
    table = efficiency_table(rows)
    write_json(root / "label_efficiency.json", strict_json(rows))
    write_text(root / "label_efficiency.md", table)
    _artifact("label-efficiency", table)
    print(table)
    return rows
