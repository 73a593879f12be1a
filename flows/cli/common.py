"""The Typer app, the options every command shares (--data, --config, --set, --debug), the
checks of argument paths and names made before any work, and the run log.

Every expected failure ends a command with one ``error: ...`` line (exit 2 for usage, config
and preflight errors, 1 otherwise); its traceback goes to the run log, and to the console with
``ytocc --debug``. Exit codes: 0 when every requested item ended ok or skipped with a reason.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Annotated

import typer

from storage.atomic import check_writable
from storage.config import Config, ConfigError, load_config
from storage.ids import InvalidIdError, sanitize_id
from storage.layout import DATA_ENV, DataRoot

USAGE = 2
"""Exit code of usage, config and preflight errors (nothing was started)."""
FAILED = 1
"""Exit code when an item failed or was locked by another build, or a command failed."""

app = typer.Typer(
    name="ytocc",
    help="Harvest house-tour videos into a 3D semantic occupancy dataset, and train on it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class Session:
    """What the current command knows about where its log goes and how loud errors are."""

    debug: bool = os.environ.get("YTOCC_DEBUG", "") not in ("", "0")
    log_dir: Path | None = None


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Print tracebacks on the console too.")
    ] = False,
) -> None:
    """Harvest house-tour videos into a 3D semantic occupancy dataset, and train on it."""
    Session.debug = Session.debug or debug


DataOpt = Annotated[
    str | None,  # a str, not a Path: Path("") would silently become the current folder
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


def config_from(
    data: str | None,
    config: Path | None,
    overrides: list[str] | None,
    folder: bool = True,
) -> Config:
    """Load the config, its data root checked (an empty one is refused), or a one-line exit.

    With `folder` (commands on a data folder), no `config` means the data folder's own
    ``config.yaml`` (:func:`storage.layout.folder_config`); commands on bare files
    (`folder=False`) start from the defaults."""
    from storage.layout import DataRootError, folder_config, resolve_data_root

    try:
        if data is not None:  # an empty --data is refused here: the config would read it as "."
            resolve_data_root(data)
        if folder:
            cfg = folder_config(config, overrides, data)[0]
        else:
            cfg = load_config(config, overrides or [], data)
        resolve_data_root(cfg.data)
    except (ConfigError, DataRootError) as e:
        fail(f"config: {e}" if isinstance(e, ConfigError) else str(e), USAGE)
        raise  # unreachable; for type checkers
    return cfg


def root_of(cfg: Config, writable: bool = True, existing: bool = False) -> DataRoot:
    """The config's data root; with `existing`, it must already be a folder (commands that work
    on what was harvested: a mistyped path is not an empty data root); with `writable`, created
    and proven writable; else a one-line exit 2."""
    root = DataRoot.at(cfg.data)
    if existing and not root.root.is_dir():
        fail(f"no data folder at {root.root} (check --data or ${DATA_ENV})", USAGE)
    if writable:
        try:
            check_writable(root.root)
        except OSError as e:
            fail(e.strerror or str(e), USAGE)
        Session.log_dir = root.root / "logs"
    return root


def checked_name(name: str, what: str) -> str:
    """`name` if it is a safe id (a folder name under the data root), else a one-line exit 2."""
    try:
        if sanitize_id(name) == name:
            return name
    except InvalidIdError:
        pass
    fail(f"{what} {name!r} may hold only letters, digits, '_' and '-' (it names a folder)", USAGE)
    raise AssertionError  # unreachable


def checked_clips(root: DataRoot, clips: list[str]) -> list[str]:
    """`clips` if each is a safe id of a clip under `root`; else one line naming the bad ones."""
    for c in clips:
        checked_name(c, "clip id")
    unknown = [c for c in clips if not root.clip_json(c).exists()]
    if unknown:
        fail(f"no clip {', '.join(unknown)} under {root.root} (see `ytocc status`)", USAGE)
    return clips


def preflight(checks: list) -> None:
    """Exit 2 with one message listing every failed preflight check (nothing was started)."""
    from flows.preflight import PreflightError, require

    try:
        require(checks)
    except PreflightError as e:
        fail(str(e), USAGE)


def fail(message: str, code: int = FAILED) -> None:
    """Print a one-line error to stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def log_traceback(exc: BaseException) -> Path | None:
    """Write `exc`'s traceback to this command's run log; its path, or None when unwritable."""
    text = "".join(traceback.format_exception(exc))
    if Session.debug:
        typer.echo(text, err=True, nl=False)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ytocc" / "logs"
    name = f"ytocc-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    for folder in (Session.log_dir, cache):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / name).open("a", encoding="utf-8") as fh:
                fh.write(text)
            return folder / name
        except OSError:
            continue
    return None
