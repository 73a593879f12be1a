"""Flows: Prefect flows composing the stages, deployments, and the `ytocc` CLI."""

import os

# An ephemeral Prefect server would otherwise try to send telemetry on every run (and log an
# error where there is no internet). The user's own setting wins.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from models.heap import keep_freed_memory  # noqa: E402

keep_freed_memory()  # every stage allocates large arrays: reuse freed heap (see models.heap)
