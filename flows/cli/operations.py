"""`ytocc build`, `ytocc rerun`, `ytocc stage`, `ytocc serve`, `ytocc ui`, `ytocc demo`.

Before any work, each checks its arguments (dataset name, clip ids, data root) and runs the
preflight (every model the config's backends load): problems end it with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import (
    USAGE,
    ConfigOpt,
    DataOpt,
    SetOpt,
    app,
    checked_clips,
    checked_name,
    config_from,
    fail,
    preflight,
    root_of,
)

DatasetOpt = Annotated[
    str, typer.Option("--dataset", help="Name of the dataset frozen at the end ('' to skip).")
]


def _build_preflight(cfg, dataset: str, sections: tuple[str, ...] | None = None) -> None:
    """Dataset name and models checked before any work (exit 2 on a problem)."""
    from flows.preflight import weights_checks

    if dataset:
        checked_name(dataset, "dataset name")
    preflight(weights_checks(cfg, sections))


def _echo_result(out: dict) -> None:
    """Summary of a build or rerun; exits 1 unless every item ended ok or skipped."""
    from flows.outcomes import describe

    for c in out["clips"]:
        if c["status"] != "ok":
            typer.echo(f"  {describe(c)}")
    typer.echo(f"{out['ok']} of {len(out['clips'])} items ok")
    if out.get("halted"):
        fail(f"build stopped: {out['halted']}; free space or fix permissions, then run it again")
    typer.echo(f"dataset: {out['dataset'] or 'not frozen'}")
    if out["report"]:
        typer.echo(f"report:  {out['report']}")
    if out["exit_code"]:
        raise typer.Exit(out["exit_code"])


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
    root = root_of(cfg)
    if not sources and not root.clip_ids():
        fail(f"nothing to build: no SOURCE given and no clips under {root.root}", USAGE)
    if not sources:  # nothing new to harvest: a finished folder needs no flow run at all
        from storage.plan import noop

        settled = noop(root, cfg, dataset or None)
        if settled is not None:
            ok = sum(c["status"] == "ok" for c in settled)
            frozen = root.dataset_dir(dataset) if dataset else None
            _echo_result({"clips": settled, "ok": ok, "dataset": frozen, "report": None,
                          "exit_code": 0})  # fmt: skip
            typer.echo("nothing to do: every clip is done and the dataset is current")
            return
    _build_preflight(cfg, dataset)
    from flows.build import build_flow

    out = build_flow(
        sources or [], str(root.root), str(config) if config else None, set_ or [], dataset or None
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

    root = root_of(cfg, existing=True)
    checked_clips(root, clip or [])
    try:
        targets = rerun_targets(root, cfg, stage, clip, reason)
    except ValueError as e:
        fail(str(e), USAGE)
    if not targets:
        typer.echo("nothing to re-run")
        return
    _build_preflight(cfg, dataset)
    for item, s in targets.items():
        typer.echo(f"{item}: from {s}")
    out = rerun_flow(
        str(root.root),
        str(config) if config else None,
        set_ or [],
        stage,
        clip,
        reason,
        dataset or None,
    )
    _echo_result(out)


def run_clip_stage(name: str, clips: list[str], force: bool, cfg) -> None:
    """Run clip stage `name` on `clips` (markers respected unless `force`); one JSON line per
    clip, a count line; exit 1 when any clip failed or its upstream stage is not done."""
    import importlib

    from tqdm import tqdm

    from flows.preflight import weights_checks
    from storage.layout import CLIP_STAGES
    from storage.stages import UpstreamNotDone

    if name not in CLIP_STAGES:
        fail(f"unknown clip stage {name!r}; clip stages are {', '.join(CLIP_STAGES)}", USAGE)
    root = root_of(cfg, existing=True)
    checked_clips(root, clips)
    preflight(weights_checks(cfg, (name,)))
    run = importlib.import_module(f"tasks.{name}").run
    states: dict[str, int] = {}
    for clip in tqdm(clips, desc=name, unit="clip"):
        try:
            marker = run(root, cfg, clip, force=force)
            state, reason = marker.status, marker.reason
        except UpstreamNotDone as e:
            state, reason = "blocked", str(e)
        states[state] = states.get(state, 0) + 1
        typer.echo(json.dumps({"clip": clip, "status": state, "reason": reason}))
    typer.echo(", ".join(f"{v} {k}" for k, v in sorted(states.items())))
    if states.get("failed") or states.get("blocked"):
        raise typer.Exit(1)


@app.command()
def stage(
    name: Annotated[
        str,
        typer.Argument(
            help="Clip stage: frames, indoor, reconstruct, clean, align, segment or voxelize.",
            show_default=False,
        ),
    ],  # fmt: skip
    clips: Annotated[list[str], typer.Argument(help="Clip ids.", show_default=False)],
    force: Annotated[bool, typer.Option(help="Redo clips already done.")] = False,
    data: DataOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run one clip stage by hand on clips (its upstream stage must be done)."""
    run_clip_stage(name, clips, force, config_from(data, config, set_))


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
        fail("no sources to harvest: set `sources:` in the config file", USAGE)
    _build_preflight(cfg, "")
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
