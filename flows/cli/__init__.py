"""The `ytocc` command line. Each area registers its commands from its own module.

Modules import heavy libraries (torch, open3d, prefect) inside commands, so `ytocc --help`
stays fast.
"""

from __future__ import annotations

import importlib

from flows.cli.common import app

COMMAND_MODULES = (
    "harvest",
    "synth",
    "geometry",
    "semantics",
    "dataset",
    "training",
    "operations",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"flows.cli.{name}")
        except ModuleNotFoundError as e:  # an area not built yet
            if e.name != f"flows.cli.{name}":
                raise


def main() -> None:
    """Entry point of the `ytocc` console script."""
    _register()
    app()


__all__ = ["app", "main"]
