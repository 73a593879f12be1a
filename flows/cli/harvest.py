"""`ytocc harvest`, `ytocc status`, `ytocc config show`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from flows.cli.common import ConfigOpt, DataOpt, SetOpt, app, config_from, root_of

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.command()
def harvest(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Video/playlist/channel URLs, URL lists (.txt), RealEstate10K folders, local videos."
        ),
    ],
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Download, cut into clips and sample frames (resumable: finished work is skipped)."""
    cfg = config_from(data, config, set_)
    from flows.harvest import harvest_flow
    from flows.outcomes import describe, exit_code
    from storage.manifest import status_table, summary_text

    root = root_of(cfg)
    result = harvest_flow(sources, str(root.root), str(config) if config else None, set_ or [])
    typer.echo(summary_text(status_table(root, cfg)))
    for reason in result["source_errors"]:
        typer.echo(f"error: {reason}", err=True)
    for item in result["ended"][len(result["source_errors"]) :]:
        typer.echo(f"  {describe(item)}")
    typer.echo(f"{len(result['clips'])} clips ready under {root.root}")
    raise typer.Exit(exit_code(result["ended"]))


@app.command()
def status(
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per item.")] = False,
) -> None:
    """Items × stages: ok, skipped, failed, or stale (with why), judged under the last build's
    config (DATA/config.yaml) unless --config/--set say otherwise."""
    from storage.manifest import status_table, summary_text  # no Prefect import: fast

    cfg = config_from(data, config, set_)
    table = status_table(root_of(cfg, writable=False, existing=True), cfg)
    if as_json:
        for row in table.to_dict(orient="records"):
            typer.echo(json.dumps({k: (None if v != v else v) for k, v in row.items()}))
    else:
        typer.echo(summary_text(table))


@config_app.command("show")
def config_show(data: DataOpt = None, config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Print the effective configuration (defaults ← file ← --set)."""
    from storage.config import dump_config

    typer.echo(dump_config(config_from(data, config, set_)), nl=False)
