"""`ytocc train pretrain|finetune|evaluate|label-efficiency` and `ytocc eval PRED GT --out`.

Training commands run the Prefect flows of ``flows/train.py`` (ephemeral Prefect, no server
needed); ``ytocc eval`` scores folders of NPZ grids with the SSC metrics directly.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import (
    USAGE,
    ConfigOpt,
    DataOpt,
    SetOpt,
    app,
    config_from,
    fail,
    option_sets,
    preflight,
)

train_app = typer.Typer(
    help="Pretrain, fine-tune and evaluate occupancy networks.", no_args_is_help=True
)
app.add_typer(train_app, name="train")

DatasetOpt = Annotated[
    Path,
    typer.Option(
        "--dataset", help="Dataset folder: ours (datasets/NAME), MonoScene NYUv2 or OccScanNet."
    ),
]
OutOpt = Annotated[
    Path, typer.Option("--out", help="Run folder (checkpoints, metrics.csv); re-run to resume.")
]
KindOpt = Annotated[
    str, typer.Option("--kind", help="Dataset format: auto, ytocc, nyuv2 or occscannet.")
]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Epochs (default: train.epochs).")]
PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="Schedule preset: paper-pretrain, paper-finetune, monoscene-nyu (--set keys win).",
    ),
]
InitOpt = Annotated[
    Path | None,
    typer.Option(
        "--init",
        help="Start from a checkpoint: a run's folder (…/last) or MonoScene's released Lightning "
        ".ckpt (read weights-only). Fine-tuning re-initialises its head.",
    ),
]
RgbOpt = Annotated[
    Path | None,
    typer.Option("--rgb-root", help="NYUv2 only: folder holding NYU{split}/*_color.jpg."),
]


def _train_cfg(
    data, config, set_, epochs, preset=None, *, datasets=(), checkpoint=None, embed=False,
    network=False,
):  # fmt: skip
    """The train config (`preset` first, so --set keys win), after the preflight: each
    (path, split, kind, rgb_root) of `datasets` opens and holds samples, `checkpoint` is one
    (a folder of ours or a released .ckpt file), with `embed` the DINOv2 weights are there and
    with `network` the occupancy network can be built here (Symphonies: its install line) and
    its pretrained backbone is there. Any problem ends the command
    with exit 2 before work starts."""
    from flows.preflight import Check, dataset_check, weights_check, weights_checks

    sets = ([f"train.preset={preset}"] if preset else []) + list(set_ or [])
    full = config_from(data, config, sets + option_sets({"train.epochs": epochs}), folder=False)
    checks = [dataset_check(str(p), split, kind, str(rgb) if rgb else None)
              for p, split, kind, rgb in datasets]  # fmt: skip
    if checkpoint is not None:
        checks.append(_checkpoint_check(Path(checkpoint), full.train.net_args))
    if embed:
        checks += weights_checks(full, (), embed=True)
    if network:
        from models.occupancy.registry import unavailable, weight_specs

        try:
            reason = unavailable(full.train.network)
            if reason:
                checks.append(Check(f"network {full.train.network}", False, reason))
            checks += [weights_check(s) for s in weight_specs(full.train.network,
                                                               full.train.net_args)]  # fmt: skip
        except ValueError as e:  # unknown network or backbone
            checks.append(Check(f"network {full.train.network}", False, str(e)))
    preflight(checks)
    return full.train


def _checkpoint_check(path: Path, net_args: dict):
    """Preflight line of a checkpoint: a finished folder of ours, or a released Lightning
    ``.ckpt`` that reads weights-only and whose names and shapes fit the MonoScene `net_args`
    configure (tensors memory-mapped, not read: a multi-GB file is checked in moments)."""
    from flows.preflight import Check
    from models.occupancy.checkpoint import CheckpointError, checkpoint_meta, is_lightning

    name = f"checkpoint {path}"
    if is_lightning(path):
        if not path.is_file():
            return Check(name, False, "no such file")
        if not zipfile.is_zipfile(path):
            return Check(name, False, "not a torch checkpoint (not a zip archive)")
    try:
        meta = checkpoint_meta(path, **net_args)
    except CheckpointError as e:
        return Check(name, False, str(e).removeprefix(f"{path}: "))
    what = "released Lightning checkpoint" if is_lightning(path) else "checkpoint folder"
    return Check(name, True, f"{what} of {meta['network']}")


def _summary_line(path: Path) -> str:
    meta = json.loads((path / "checkpoint.json").read_text())
    last = meta["history"][-1] if meta.get("history") else {}
    return f"checkpoint {path} (epoch {meta['epoch']}, loss {last.get('loss', float('nan')):.4f})"


def _errors():
    """The exceptions a command reports as one line (bad data, missing weights or checkpoint)."""
    from models.occupancy.checkpoint import CheckpointError
    from models.occupancy.symphonies import SymphoniesUnavailable
    from models.weights import WeightsNotFound
    from storage.formats import FormatError

    return (
        FormatError,
        WeightsNotFound,
        CheckpointError,
        SymphoniesUnavailable,
        FileNotFoundError,
        ValueError,
    )


@train_app.command("pretrain")
def pretrain_cmd(
    dataset: DatasetOpt,
    out: OutOpt = Path("runs/pretrain"),
    init: InitOpt = None,
    kind: KindOpt = "auto",
    epochs: EpochsOpt = None,
    preset: PresetOpt = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Contrastive pretraining (DINOv2 superpixels ↔ supervoxels) without labels."""
    from flows.train import pretrain_flow

    cfg = _train_cfg(data, config, set_, epochs, preset, checkpoint=init, embed=True,
                     network=init is None, datasets=[(dataset, "train", kind, None)])  # fmt: skip
    try:
        ckpt = pretrain_flow(
            str(dataset), str(out), cfg, kind=kind, init=str(init) if init else None
        )
    except _errors() as e:
        fail(str(e))
        return
    typer.echo(_summary_line(Path(ckpt)))


@train_app.command("finetune")
def finetune_cmd(
    dataset: DatasetOpt,
    out: OutOpt = Path("runs/finetune"),
    init: InitOpt = None,
    label_fraction: Annotated[
        float,
        typer.Option(
            "--label-fraction", help="Share of labelled samples (seeded subset), in (0, 1]."
        ),
    ] = 1.0,
    kind: KindOpt = "auto",
    rgb_root: RgbOpt = None,
    epochs: EpochsOpt = None,
    preset: PresetOpt = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Fine-tune on occupancy labels (the network's losses, or class-weighted cross-entropy)."""
    from flows.train import finetune_flow

    if not 0 < label_fraction <= 1:  # a share of the labels; none at all is no fine-tuning
        fail(f"--label-fraction must lie in (0, 1], got {label_fraction}", USAGE)
    cfg = _train_cfg(data, config, set_, epochs, preset, checkpoint=init, network=init is None,
                     datasets=[(dataset, "train", kind, rgb_root)])  # fmt: skip
    try:
        ckpt = finetune_flow(
            str(dataset),
            str(out),
            cfg,
            init=str(init) if init else None,
            label_fraction=label_fraction,
            kind=kind,
            rgb_root=str(rgb_root) if rgb_root else None,
        )
    except _errors() as e:
        fail(str(e))
        return
    typer.echo(_summary_line(Path(ckpt)))


def _print_summary(summary: dict, out: Path) -> None:
    if summary.get("geometry_only"):
        typer.echo(f"IoU {summary['iou']:.2f}  (geometry-only grids: no classes, no mIoU)  → {out}")
        return
    typer.echo(f"IoU {summary['iou']:.2f}  mIoU {summary['miou']:.2f}  → {out}")


@train_app.command("evaluate")
def evaluate_cmd(
    checkpoint: Annotated[
        Path,
        typer.Option(
            "--checkpoint", help="Checkpoint folder (…/last) or MonoScene's released .ckpt."
        ),
    ],
    dataset: DatasetOpt,
    out: Annotated[
        Path, typer.Option("--out", help="Metrics JSON (a .md table is written beside).")
    ] = Path("metrics.json"),
    split: Annotated[str, typer.Option("--split", help="Split to evaluate.")] = "val",
    kind: KindOpt = "auto",
    rgb_root: RgbOpt = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """IoU, mIoU and per-class IoU (%) of a checkpoint on a dataset split; paper-style table."""
    from flows.train import evaluate_flow

    cfg = _train_cfg(data, config, set_, None, checkpoint=checkpoint,
                     datasets=[(dataset, split, kind, rgb_root)])  # fmt: skip
    try:
        summary = evaluate_flow(
            str(checkpoint),
            str(dataset),
            str(out),
            cfg,
            split=split,
            kind=kind,
            rgb_root=str(rgb_root) if rgb_root else None,
        )
    except _errors() as e:
        fail(str(e))
        return
    _print_summary(summary, out)


@train_app.command("label-efficiency")
def label_efficiency_cmd(
    pretrain_dataset: Annotated[
        Path, typer.Option("--pretrain-dataset", help="Dataset to pretrain on (e.g. ours).")
    ],
    finetune_dataset: Annotated[
        Path, typer.Option("--finetune-dataset", help="Labelled dataset (train + eval split).")
    ],
    out: OutOpt = Path("runs/label-efficiency"),
    eval_split: Annotated[
        str, typer.Option("--eval-split", help="Split of the labelled dataset to evaluate.")
    ] = "val",
    epochs: EpochsOpt = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Pretrain once, fine-tune at each of train.label_fractions with and without it; a table."""
    from flows.train import efficiency_table, label_efficiency_flow

    sets = [(pretrain_dataset, "train", "auto", None), (finetune_dataset, "train", "auto", None),
            (finetune_dataset, eval_split, "auto", None)]  # fmt: skip
    cfg = _train_cfg(data, config, set_, epochs, datasets=sets, embed=True, network=True)
    try:
        rows = label_efficiency_flow(
            str(pretrain_dataset), str(finetune_dataset), str(out), cfg, eval_split=eval_split
        )
    except _errors() as e:
        fail(str(e))
        return
    typer.echo(efficiency_table(rows))


@app.command("eval")
def eval_cmd(
    pred_dir: Annotated[
        Path, typer.Argument(help="Folder of NPZ predictions (key 'pred', uint8 60×60×36).")
    ],
    gt_dir: Annotated[
        Path, typer.Argument(help="Folder of NPZ ground truth of the same names (key 'target').")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Metrics JSON: iou, miou, per_class (percent).")
    ] = Path("metrics.json"),
    present_only: Annotated[
        bool,
        typer.Option(
            "--present-only",
            help="Average mIoU over the classes present in target or prediction only "
            "(default: MonoScene's mean over all 11 classes, absent ones counting 0).",
        ),
    ] = False,
) -> None:
    """Score predicted grids against ground truth like MonoScene's SSCMetrics (255 ignored)."""
    from storage.formats import FormatError
    from tasks.training.evaluate import evaluate_dirs, write_metrics

    try:
        metrics = evaluate_dirs(pred_dir, gt_dir, "present" if present_only else "all")
    except (FormatError, ValueError) as e:
        fail(str(e), USAGE)
        return
    summary = metrics.summary()
    write_metrics(summary, out)
    _print_summary(summary, out)
