"""Nightly harvest: serve a deployment of the build flow on a cron schedule.

`ytocc serve` runs it in this process (``prefect.serve``); ``prefect.yaml`` at the repository
root declares the same deployment for a process work pool (`prefect deploy --all`).
"""

from __future__ import annotations

from typing import Any

DEPLOYMENT = "nightly"


def nightly_deployment(sources: list[str], cron: str, data: str | None = None,
                       config: str | None = None) -> Any:  # fmt: skip
    """The ``build/nightly`` runner deployment: the build flow, `cron` in UTC, these sources."""
    from flows.build import build_flow

    params = {
        "sources": sources,
        "data": data,
        "config": config,
        "overrides": [],
        "dataset": "ytocc",
    }
    return build_flow.to_deployment(name=DEPLOYMENT, cron=cron, parameters=params)


def serve(
    sources: list[str], cron: str, data: str | None = None, config: str | None = None
) -> None:
    """Serve ``build/nightly`` until stopped (Ctrl-C)."""
    from prefect import serve as prefect_serve

    prefect_serve(nightly_deployment(sources, cron, data, config))
