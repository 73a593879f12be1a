"""`ytocc scene` and `ytocc segment-image` on image files with tiny official-format models."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from flows.cli import _register, app
from storage.formats import read_segment
from tests.models.tiny_semantics import mask2former_folder, places365_checkpoint, scene_bias

_register()
runner = CliRunner()


def _image(path: Path, seed: int = 0) -> Path:
    rgb = np.random.default_rng(seed).integers(0, 255, (60, 80, 3), np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def test_scene_prints_one_json_line_per_image(tmp_path: Path):
    ckpt = places365_checkpoint(tmp_path / "w", "resnet18", favour=scene_bias(outdoor=False))
    imgs = [_image(tmp_path / "a.jpg"), _image(tmp_path / "b.png", 1)]
    result = runner.invoke(
        app, ["scene", *map(str, imgs), "--weights", str(ckpt), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert [x["image"] for x in lines] == [str(p) for p in imgs]
    assert all(x["indoor"] is True and len(x["top5"]) == 5 for x in lines)
    name, prob = lines[0]["top5"][0]
    assert isinstance(name, str) and 0 < prob <= 1


def test_scene_reports_outdoor_images(tmp_path: Path):
    ckpt = places365_checkpoint(tmp_path / "w", "resnet18", favour=scene_bias(outdoor=True))
    result = runner.invoke(app, ["scene", str(_image(tmp_path / "a.jpg")), "--weights", str(ckpt)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["indoor"] is False


def test_scene_without_weights_is_one_clear_error(tmp_path: Path):
    result = runner.invoke(
        app, ["scene", str(_image(tmp_path / "a.jpg")), "--weights", str(tmp_path / "missing")]
    )
    assert result.exit_code == 2  # missing weights: a preflight-class error
    assert "error:" in result.output and "resnet18_places365.pth.tar" in result.output
    assert "Traceback" not in result.output


def test_segment_image_writes_npz_and_picture(tmp_path: Path):
    folder = mask2former_folder(tmp_path / "m2f")
    img = _image(tmp_path / "room.jpg")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["segment-image", str(img), "--weights", str(folder), "--out", str(out),
              "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    seg = read_segment(out / "room.npz")
    assert seg["labels"].shape == (60, 80)
    with Image.open(out / "room.png") as im:
        assert im.size == (80, 60)
    record = json.loads(result.stdout.splitlines()[0])
    # the 11 shares are rounded to 4 digits (≤ 11 × 5e-5 off in all); one pixel of 80×60 is
    # 2e-4, so a lost class of even a few pixels breaks the 1e-3
    assert abs(sum(record["class_share"].values()) + (seg["labels"] == 0).mean() - 1) < 1e-3


def test_segment_image_refuses_synthetic_gt(tmp_path: Path):
    result = runner.invoke(
        app, ["segment-image", str(_image(tmp_path / "a.jpg")), "--backend", "synthetic-gt",
              "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert result.exit_code == 2 and "model backend" in result.output


def test_scene_reports_an_unreadable_image_and_goes_on(tmp_path: Path):
    ckpt = places365_checkpoint(tmp_path / "w", "resnet18")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    good = _image(tmp_path / "good.jpg")
    result = runner.invoke(app, ["scene", str(broken), str(good), "--weights", str(ckpt)])
    assert result.exit_code == 1
    assert "broken.jpg: not a readable image" in result.stderr
    assert json.loads(result.stdout.splitlines()[0])["image"] == str(good)


@pytest.mark.skipif(importlib.util.find_spec("detectron2") is not None, reason="SAN installed")
def test_segment_image_with_san_missing_prints_the_install_line(tmp_path: Path):
    result = runner.invoke(
        app, ["segment-image", str(_image(tmp_path / "a.jpg")), "--backend", "san",
              "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "detectron2" in result.stderr and "Traceback" not in result.output
