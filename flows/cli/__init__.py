"""The `ytocc` command line. Each area registers its commands from its own module.

Modules import heavy libraries (torch, open3d, prefect) inside commands, so `ytocc --help`
stays fast. :func:`main` turns every exception that escapes a command into one ``error:`` line
(exit 2 for usage/config/preflight errors, 1 for the rest) and its traceback into the run log;
a command-line usage error (unknown option, missing argument) is one line too, naming the
command's ``--help``.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer._click.exceptions import NoArgsIsHelpError  # Typer 0.29 runs on its own Click

from flows.cli.common import FAILED, USAGE, app, log_traceback

COMMAND_MODULES = (
    "harvest",
    "synth",
    "geometry",
    "semantics",
    "dataset",
    "training",
    "operations",
    "doctor",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"flows.cli.{name}")
        except ModuleNotFoundError as e:  # an area not built yet
            if e.name != f"flows.cli.{name}":
                raise


def expected_errors() -> dict[type[BaseException], int]:
    """Exceptions that are a user's input, config or data, not a bug → their exit code."""
    from flows.preflight import PreflightError
    from models.torch_files import CheckpointError
    from models.weights import WeightsNotFound
    from storage.config import ConfigError
    from storage.formats import FormatError
    from storage.ids import InvalidIdError
    from storage.layout import DataRootError
    from tasks.dataset import DatasetError

    usage = (ConfigError, DataRootError, InvalidIdError, PreflightError, WeightsNotFound)
    data = (CheckpointError, FormatError, DatasetError)
    return {**dict.fromkeys(usage, USAGE), **dict.fromkeys(data, FAILED)}


def usage_line(e: typer.TyperException) -> str:
    """One line for a command-line usage error: the message and where the command's help is."""
    ctx = getattr(e, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"error: {e.format_message()}{where}"


def main() -> None:
    """Entry point of the `ytocc` console script. Always ends with SystemExit (0, 1, 2 or 130)."""
    _register()
    try:
        rv = app(standalone_mode=False, prog_name="ytocc")
    except NoArgsIsHelpError as e:  # `ytocc` or a command group alone: its help
        e.show()
        sys.exit(USAGE)
    except typer.TyperException as e:  # a usage error found before any command ran
        print(usage_line(e), file=sys.stderr)
        sys.exit(USAGE)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, traceback logged
        log = log_traceback(e)
        where = f" (traceback: {log})" if log else ""
        try:
            table = expected_errors()
        except Exception:  # noqa: BLE001 - a broken install must still get its one line
            table = {}
        code = next((c for t, c in table.items() if isinstance(e, t)), None)
        if code is None:
            print(f"error: unexpected {type(e).__name__}: {e}{where}", file=sys.stderr)
            sys.exit(FAILED)
        print(f"error: {e}{where if code == FAILED else ''}", file=sys.stderr)
        sys.exit(code)
    sys.exit(rv if isinstance(rv, int) else 0)


__all__ = ["app", "main"]
