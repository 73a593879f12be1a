"""Test-wide settings: no downloads ever, an isolated Prefect home, small thread counts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Never reach a model hub from a test; never talk to a user's Prefect server.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("YTOCC_DATA", None)
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="ytocc-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ.setdefault("OMP_NUM_THREADS", "2")

from storage.layout import DataRoot  # noqa: E402


@pytest.fixture
def root(tmp_path: Path) -> DataRoot:
    """An empty data root in a temp folder."""
    return DataRoot(tmp_path / "data")


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for every flow test of the session (~20 s once)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
