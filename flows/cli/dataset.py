"""`ytocc dataset`: freeze the finished samples of a data root into ``datasets/NAME/``."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.common import USAGE, ConfigOpt, DataOpt, SetOpt, app, config_from, fail, root_of


@app.command()
def dataset(
    name: Annotated[str, typer.Argument(help="Dataset name: the folder datasets/NAME.")],
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(
            help="Share of videos held out for val (default: dataset.val_fraction, 0.15)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing dataset of this name.")] = False,
    require_measured_scale: Annotated[
        bool,
        typer.Option(
            "--require-measured-scale",
            help="Leave out clips whose metric scale was assumed (wall tops, camera height) "
            "rather than measured from a seen ceiling.",
        ),
    ] = False,
) -> None:
    """Freeze every sample whose clip finished voxelize into datasets/NAME (split by video)."""
    from rich.progress import Progress

    from storage.ids import InvalidIdError, sanitize_id
    from tasks.dataset import DatasetError, freeze

    cfg = config_from(data, config, set_)
    if val_fraction is not None:
        cfg.dataset.val_fraction = val_fraction
    try:
        if sanitize_id(name) != name:
            fail(f"dataset name {name!r} may hold only letters, digits, '_' and '-'", USAGE)
    except InvalidIdError as e:
        fail(str(e), USAGE)
    with Progress(transient=True) as bar:
        job = bar.add_task(f"reading clips for {name}", total=None)
        try:
            summary = freeze(
                root_of(cfg, existing=True),
                cfg,
                name,
                force=force,
                require_measured_scale=require_measured_scale,
                progress=lambda done, total: bar.update(job, completed=done, total=total),
            )
        except DatasetError as e:
            fail(str(e))
            return
    for line in summary.skipped:
        typer.echo(f"left out: {line}", err=True)
    state = "frozen" if summary.created else "unchanged (same content)"
    for split, c in summary.counts.items():
        typer.echo(f"{split:>5}: {c['samples']} samples, {c['clips']} clips, {c['videos']} videos")
    typer.echo(f"{state}: {summary.path} (fingerprint {summary.fingerprint})")
