"""`ytocc train ...` options that stand for config keys are checked like ``--set``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import _register, app
from flows.cli.training import _train_cfg

_register()


@pytest.mark.parametrize("command", ["pretrain", "finetune"])
@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_a_bad_epochs_option_is_one_config_line_and_exit_2(tmp_path, command, epochs) -> None:
    """`--epochs 0` was assigned to the validated model after loading: a multi-line pydantic
    ValidationError and exit 1 instead of the one line `--set train.epochs=0` gives."""
    res = CliRunner().invoke(
        app,
        ["train", command, "--dataset", str(tmp_path), "--data", str(tmp_path),
         "--epochs", epochs, "--out", str(tmp_path / "run")],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    (line,) = res.output.strip().splitlines()
    assert line.startswith("error: config: train.epochs: "), line


def test_the_epochs_option_wins_over_set_and_preset(tmp_path) -> None:
    cfg = _train_cfg(str(tmp_path), None, ["train.epochs=5"], 3, "paper-pretrain")
    assert cfg.epochs == 3 and cfg.preset == "paper-pretrain"
    assert _train_cfg(str(tmp_path), None, ["train.epochs=5"], None, "paper-pretrain").epochs == 5
