"""The Typer app and the options every command shares (--data, --config, --set)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from storage.atomic import check_writable
from storage.config import Config, ConfigError, load_config
from storage.layout import DataRoot

app = typer.Typer(
    name="ytocc",
    help="Harvest house-tour videos into a 3D semantic occupancy dataset, and train on it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Data root (default: $YTOCC_DATA or ./data).", show_default=False),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config file.", show_default=False)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override a config key: --set reconstruct.dust3r.niter=100 (repeatable).",
    ),
]


def config_from(data: Path | None, config: Path | None, overrides: list[str] | None) -> Config:
    """Load the config or exit with a one-line error."""
    try:
        return load_config(config, overrides or [], data)
    except ConfigError as e:
        fail(f"config: {e}", code=2)
        raise  # unreachable; for type checkers


def root_of(cfg: Config, writable: bool = True) -> DataRoot:
    """The config's data root; with `writable`, created and proven writable or a one-line exit."""
    root = DataRoot.at(cfg.data)
    if writable:
        try:
            check_writable(root.root)
        except OSError as e:
            fail(e.strerror or str(e))
    return root


def fail(message: str, code: int = 1) -> None:
    """Print a one-line error to stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
