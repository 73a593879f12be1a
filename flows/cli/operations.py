"""`ytocc build`, `ytocc rerun`, `ytocc serve`, `ytocc ui`, `ytocc demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import ConfigOpt, DataOpt, SetOpt, app, config_from, fail, root_of

DatasetOpt = Annotated[
    str, typer.Option("--dataset", help="Name of the dataset frozen at the end ('' to skip).")
]


def _echo_result(out: dict) -> None:
    for c in out["clips"]:
        if c["status"] != "ok":
            typer.echo(f"  {c['clip']}: {c['status']} at {c['stage']}: {c['reason']}")
    typer.echo(f"{out['ok']} of {len(out['clips'])} clips ok")
    if out.get("halted"):
        fail(f"build stopped: {out['halted']}; free space or fix permissions, then run it again")
    typer.echo(f"dataset: {out['dataset']}\nreport:  {out['report']}")


@app.command()
def build(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Sources (see `ytocc harvest`); none: the clips already in the data root."
        ),
    ] = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dataset: DatasetOpt = "ytocc",
) -> None:
    """Sources to dataset: harvest, every clip stage, manifests, dataset, report (resumable)."""
    cfg = config_from(data, config, set_)
    from flows.build import run_build

    out = run_build(
        sources or [],
        str(root_of(cfg).root),
        str(config) if config else None,
        set_ or [],
        dataset or None,
    )
    _echo_result(out)


@app.command()
def rerun(
    stage: Annotated[
        str | None,
        typer.Option(help="Re-run this stage (and downstream) instead of the failed ones."),
    ] = None,
    clip: Annotated[
        list[str] | None, typer.Option("--clip", help="Only these clips (repeatable).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Only failures whose reason contains this text.")
    ] = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dataset: DatasetOpt = "ytocc",
) -> None:
    """Re-run failed (or named) stages and everything downstream, from the data folder alone."""
    cfg = config_from(data, config, set_)
    from flows.rerun import rerun_flow, rerun_targets

    try:
        targets = rerun_targets(root_of(cfg), stage, clip, reason)
    except ValueError as e:
        fail(str(e))
    if not targets:
        typer.echo("nothing to re-run")
        return
    for item, s in targets.items():
        typer.echo(f"{item}: from {s}")
    out = rerun_flow(
        str(root_of(cfg).root),
        str(config) if config else None,
        set_ or [],
        stage,
        clip,
        reason,
        dataset or None,
    )
    _echo_result(out)


@app.command()
def serve(
    cron: Annotated[
        str | None, typer.Option(help="Cron schedule (default: config `cron`, 0 2 * * *).")
    ] = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the build flow as deployment build/nightly on a cron schedule (sources from config)."""
    cfg = config_from(data, config, None)
    if not cfg.sources:
        fail("no sources to harvest: set `sources:` in the config file")
    from flows.serve import serve as serve_build

    serve_build(
        cfg.sources, cron or cfg.cron, str(root_of(cfg).root), str(config) if config else None
    )


@app.command()
def ui(port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 4200) -> None:
    """Start a local Prefect server and UI on 127.0.0.1 (SQLite)."""
    from flows.ui import main

    raise typer.Exit(main(["--port", str(port)]))


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/demo"),
    no_train: Annotated[bool, typer.Option("--no-train", help="Stop after the dataset.")] = False,
) -> None:
    """The whole pipeline on the synthetic house tour, offline (what `make demo` runs)."""
    from flows.demo import exit_code, main

    raise typer.Exit(exit_code(main(["--out", str(out), *(["--no-train"] if no_train else [])])))
