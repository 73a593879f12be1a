"""Flows: Prefect flows composing the stages, deployments, and the `ytocc` CLI."""

import os

# An ephemeral Prefect server would otherwise try to send telemetry on every run (and log an
# error where there is no internet). The user's own setting wins.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect waits 20 s for its temporary server; a fresh PREFECT_HOME alone takes ~19 s to migrate
# on 2 busy cores, so a first run failed by chance. Two minutes covers a loaded machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from models.heap import keep_freed_memory  # noqa: E402

keep_freed_memory()  # every stage allocates large arrays: reuse freed heap (see models.heap)
