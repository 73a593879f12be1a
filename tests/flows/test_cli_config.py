"""`ytocc config show` prints the effective configuration, defaults included, and it loads back."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from flows.cli import _register, app
from storage.config import Config, load_config


def test_config_show_prints_defaults_file_and_overrides_and_loads_back(tmp_path) -> None:
    _register()
    mine = tmp_path / "my.yaml"
    mine.write_text("frames:\n  per_clip: 9\n")
    shown = CliRunner().invoke(
        app, ["config", "show", "--config", str(mine), "--set", "clean.min_points=77"]
    )
    assert shown.exit_code == 0, shown.output
    printed = yaml.safe_load(shown.output)
    assert printed["frames"]["per_clip"] == 9  # from the file
    assert printed["clean"]["min_points"] == 77  # from --set
    assert printed["voxelize"]["voxel_size"] == Config().voxelize.voxel_size  # a default
    back = tmp_path / "back.yaml"
    back.write_text(shown.output)
    assert load_config(back) == load_config(mine, overrides=["clean.min_points=77"])
