"""`ytocc doctor`: one line per check of this machine and config, ok or what to do."""

from __future__ import annotations

import typer

from flows.cli.common import ConfigOpt, DataOpt, SetOpt, app, config_from


@app.command()
def doctor(data: DataOpt = None, config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Check models of the config's backends, system libraries, ffmpeg, torch/GPU, disk, Prefect,
    yt-dlp and the JavaScript runtime; exit 1 when something needs fixing."""
    from flows.doctor import doctor_checks
    from storage.layout import DataRoot

    cfg = config_from(data, config, set_)
    checks = doctor_checks(cfg, DataRoot.at(cfg.data).root)
    for c in checks:
        typer.echo(c.line())
    bad = sum(not c.ok for c in checks)
    typer.echo(f"{len(checks) - bad} of {len(checks)} ok")
    raise typer.Exit(int(bad > 0))
