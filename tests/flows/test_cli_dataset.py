"""`ytocc dataset`: freezes, prints counts and path, refuses other content without --force."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import _register, app
from storage.config import Config
from storage.dataset_schema import SAMPLES
from storage.schemas import read_table
from storage.stages import run_item_stage
from tests.support.tiny_dataset import build_clip, build_root

_register()


def _run(*args: str):
    return CliRunner().invoke(app, ["dataset", *args])


def test_dataset_command_freezes_and_prints_counts(root):
    build_root(root)
    res = _run("demo", "--data", str(root.root), "--val-fraction", "0.5")
    assert res.exit_code == 0, res.output
    assert "total: 8 samples, 4 clips, 3 videos" in res.output
    assert str(root.dataset_dir("demo")) in res.output
    ds = root.dataset_dir("demo")
    assert (
        len(read_table(ds / "train.parquet", SAMPLES))
        + len(read_table(ds / "val.parquet", SAMPLES))
        == 8
    )
    assert '"val_fraction": 0.5' in (ds / "dataset.json").read_text()


def test_dataset_command_refuses_changed_content_without_force(root):
    build_root(root)
    assert _run("demo", "--data", str(root.root)).exit_code == 0
    assert "unchanged" in _run("demo", "--data", str(root.root)).output
    build_clip(root, "vidZ", 0)
    res = _run("demo", "--data", str(root.root))
    assert res.exit_code == 1 and "--force" in res.output
    assert _run("demo", "--data", str(root.root), "--force").exit_code == 0


def test_dataset_command_rejects_bad_names_and_empty_roots(root):
    assert "may hold only" in _run("../x", "--data", str(root.root)).output
    res = _run("demo", "--data", str(root.root))  # no such folder: a usage error
    assert res.exit_code == 2 and "no data folder at" in res.output
    root.root.mkdir(parents=True)
    res = _run("demo", "--data", str(root.root))  # an empty one: nothing to freeze
    assert res.exit_code == 1 and "nothing to freeze" in res.output


def test_require_measured_scale_option_leaves_assumed_scale_clips_out(root):
    from tests.support.tiny_dataset import align_provenance

    clips = build_root(root)  # 4 clips
    for cid, method in zip(clips, ["ceiling", "wall-top", "camera-height", "ceiling"], strict=True):
        align_provenance(root, cid, method)
    res = _run("m", "--data", str(root.root), "--require-measured-scale")
    assert res.exit_code == 0, res.output
    assert "total: 4 samples, 2 clips" in res.output
    assert f"left out: {clips[1]}: scale assumed (wall-top)" in res.output
    assert "total: 8 samples, 4 clips" in _run("all", "--data", str(root.root)).output


@pytest.mark.parametrize("value", ["1.5", "-1", "nan"])
def test_a_bad_val_fraction_is_one_config_line_and_exit_2(root, value):
    """`--val-fraction 1.5` printed a multi-line pydantic ValidationError with exit 1; it is
    checked like `--set dataset.val_fraction=1.5` now."""
    build_root(root)
    res = _run("demo", "--data", str(root.root), "--val-fraction", value)
    assert res.exit_code == 2, res.output
    (line,) = res.output.strip().splitlines()
    assert line.startswith("error: config: dataset.val_fraction: "), line
    assert not root.dataset_dir("demo").exists()


def test_an_empty_split_is_a_warning_line_and_a_rerun_updates_the_record(root):
    clips = build_root(root, {"vidA": 1, "vidB": 1})
    res = _run("demo", "--data", str(root.root), "--val-fraction", "1.0")
    assert res.exit_code == 0, res.output
    assert "warning: the train split is empty (val_fraction 1.0, 2 videos)" in res.output
    run_item_stage(root, Config(), clips[0], "voxelize", lambda: None, force=True)
    res = _run("demo", "--data", str(root.root), "--val-fraction", "1.0")
    assert "unchanged (same content, record updated)" in res.output, res.output
    res = _run("demo", "--data", str(root.root), "--val-fraction", "1.0")
    assert "unchanged (same content):" in res.output, res.output
