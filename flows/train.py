"""Prefect flows of training: pretrain, finetune, evaluate, and the label-efficiency study.

They only compose the plain functions of ``tasks/training/pretrain.py``, ``tasks/training/finetune.py`` and
``tasks/training/evaluate.py``; checkpoints (resumable) and per-epoch CSVs live under the output folder,
so re-running a killed flow continues where it stopped. Each flow leaves a Markdown artifact;
pretraining and fine-tuning a run summary (epochs, samples/s, the loss curve, and for
pretraining the contrastive retrieval accuracy against its chance level) and a table artifact
of every epoch (``pretrain-epochs``, ``finetune-epochs``); evaluation a table artifact
``per-class-iou`` (each class's IoU, mIoU, IoU).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from storage.atomic import read_json, write_json, write_text
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


def _num(v: Any, digits: int = 4) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}g}"


def run_summary(title: str, history: list[dict[str, Any]], ckpt: str) -> str:
    """Markdown of a training run: what ran, the loss curve, throughput, per-epoch table.

    `history` is ``metrics.json``'s per-epoch rows (loss, loss_<part>, lr, samples_per_s,
    skipped_batches, and pretraining's top1 / chance_top1 / pairs).
    """
    first, last = history[0], history[-1]
    best = min(history, key=lambda r: r["loss"])
    seconds = sum(r["seconds"] for r in history)
    lines = [
        f"### {title}",
        "",
        f"- epochs: {last['epoch']}, checkpoint `{ckpt}`",
        f"- loss: {_num(first['loss'])} (epoch {first['epoch']}) → {_num(last['loss'])} "
        f"(epoch {last['epoch']}), best {_num(best['loss'])} (epoch {best['epoch']})"
        + (f", {100 * (last['loss'] / first['loss'] - 1):+.1f} %" if first["loss"] else ""),
        f"- throughput: {_num(sum(r['samples_per_s'] for r in history) / len(history))} "
        f"samples/s (mean of epochs), {seconds:.1f} s in all",
    ]
    if "top1" in last:
        lines.append(
            f"- contrastive retrieval top-1 (supervoxel → its superpixel among the batch's): "
            f"{100 * first['top1']:.1f} % → {100 * last['top1']:.1f} % "
            f"(chance {100 * last['chance_top1']:.1f} %, {last['pairs']:.0f} pairs per batch)"
        )
    skipped = sum(r.get("skipped_batches", 0) for r in history)
    if skipped:
        lines.append(f"- {skipped} batches skipped (no matched pair or no training signal)")
    cols = [k for k in dict.fromkeys(k for r in history for k in r) if k != "seconds"]
    lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_num(r.get(k)) for k in cols) + " |" for r in history]
    return "\n".join(lines) + "\n"


def _run_artifacts(kind: str, title: str, ckpt: Path) -> None:
    """The run summary (Markdown, key `kind`) and every epoch (table, key `kind`-epochs)."""
    history = read_json(ckpt.parent / "metrics.json")["epochs"]
    _artifact(kind, run_summary(title, history, str(ckpt)))
    create_table_artifact(
        table=history, key=f"{kind}-epochs", description=f"{title}: one row per epoch"
    )


@flow(name="pretrain", log_prints=True)
def pretrain_flow(
    dataset: str,
    out: str,
    cfg: TrainConfig | None = None,
    kind: DatasetKind = "auto",
    init: str | None = None,
) -> str:
    """Contrastive pretraining on a dataset folder (from checkpoint `init` if given); returns
    the checkpoint folder."""
    cfg = cfg or TrainConfig()
    ckpt = pretrain_task(dataset, out, cfg, kind=kind, init=init)
    start = f" from `{init}`" if init else ""
    _run_artifacts("pretrain", f"Pretraining on `{dataset}`{start}", Path(ckpt))
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
    title = f"Fine-tuning on {label_fraction:.0%} of `{dataset}` from `{init or 'scratch'}`"
    _run_artifacts("finetune", title, Path(ckpt))
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
