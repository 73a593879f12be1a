"""A tiny tour (2 rooms + outdoor, 160×120, 12 frames a shot) made once through `ytocc synth`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

TINY = ["--rooms", "2", "--seconds-per-room", "1", "--width", "160", "--height", "120"]
TINY_FPS = ["--fps", "12", "--seed", "3"]


def synth_cli(out: Path, *extra: str) -> Path:
    """Run `ytocc synth OUT` with the tiny settings; returns OUT."""
    from flows.cli import _register, app

    _register()
    made = CliRunner().invoke(app, ["synth", str(out), *TINY, *TINY_FPS, *extra])
    assert made.exit_code == 0, made.output
    return out


@pytest.fixture(scope="session")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_cli(tmp_path_factory.mktemp("tour") / "tour")
