"""Preflight: every model the config's backends load is found before any work, or all missing ones
are listed at once with a command that fetches them (issue 13, case 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.preflight import (
    BUILD_SECTIONS,
    PRETRAIN_SECTIONS,
    PreflightError,
    dataset_check,
    require,
    weights_checks,
)
from models.weights import BACKENDS, WeightsNeed, needed_weights, register_backend
from storage.config import load_config

SYNTH = [f"{s}.backend=synthetic-gt" for s in BUILD_SECTIONS]


@pytest.fixture
def empty_hub(monkeypatch, tmp_path) -> Path:
    """A Hugging Face cache with nothing in it (HF_HUB_OFFLINE is set by conftest)."""
    import huggingface_hub.constants as c

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    return cache


def cache_model(cache: Path, repo: str, files: dict[str, bytes]) -> None:
    """Put `files` of Hub repo `repo` in the cache the way huggingface_hub lays it out."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    for name, body in files.items():
        path = folder / "snapshots" / ("0" * 40) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def test_default_config_lists_every_missing_model_with_a_working_command(
    empty_hub, tmp_path
) -> None:
    cfg = load_config(None, [f"indoor.weights={tmp_path / 'places'}"])
    with pytest.raises(PreflightError) as e:
        require(weights_checks(cfg, BUILD_SECTIONS + PRETRAIN_SECTIONS))
    msg = str(e.value)
    assert len(e.value.problems) == 4 and "nothing was started" in msg
    for name in ("Places365", "DUSt3R", "Mask2Former", "DINOv2"):
        assert name in msg
    assert "huggingface-cli" not in msg  # it does not exist in the installed huggingface_hub
    assert " download naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt --include config.json" in msg
    assert " download facebook/mask2former-swin-tiny-ade-semantic" in msg
    assert (
        f"{tmp_path / 'places' / 'resnet18_places365.pth.tar'} "
        "http://places2.csail.mit.edu/models_places365/resnet18_places365.pth.tar" in msg
    )


def test_models_in_the_cache_or_on_disk_pass(empty_hub, tmp_path) -> None:
    cache_model(empty_hub, "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt",
                {"config.json": b"{}", "model.safetensors": b"x"})  # fmt: skip
    cache_model(empty_hub, "facebook/mask2former-swin-tiny-ade-semantic", {"config.json": b"{}"})
    places = tmp_path / "places"
    places.mkdir()
    (places / "resnet18_places365.pth.tar").write_bytes(b"x")
    cfg = load_config(None, [f"indoor.weights={places}"])
    checks = weights_checks(cfg, BUILD_SECTIONS)
    assert [c.ok for c in checks] == [True, True, True], [c.line() for c in checks]
    require(checks)


def test_only_the_chosen_backends_are_checked(empty_hub) -> None:
    assert weights_checks(load_config(None, SYNTH), BUILD_SECTIONS) == []
    cfg = load_config(None, ["segment.backend=san", "reconstruct.backend=synthetic-gt",
                             "indoor.backend=synthetic-gt"])  # fmt: skip
    (check,) = weights_checks(cfg, BUILD_SECTIONS)
    assert not check.ok and "SAN checkpoint" in check.name and "san_vit_b_16.pth" in check.detail


def test_a_new_backend_declares_its_weights_through_the_registry(monkeypatch) -> None:
    import sys
    import types

    mod = types.ModuleType("ytocc_test_backend")
    mod.weights_needed = lambda cfg: [WeightsNeed("Test net", "segment.weights", "/nowhere/net")]
    monkeypatch.setitem(sys.modules, "ytocc_test_backend", mod)
    monkeypatch.setitem(BACKENDS, ("segment", "mask2former-ade"), "ytocc_test_backend")
    (need,) = needed_weights(load_config(), ("segment",))
    assert need.what == "Test net"
    register_backend("segment", "mask2former-ade", "ytocc_test_backend")  # same, via the API
    assert BACKENDS[("segment", "mask2former-ade")] == "ytocc_test_backend"


def test_an_empty_or_missing_split_names_the_dataset_and_split(tmp_path) -> None:
    import pyarrow.parquet as pq

    from storage.dataset_schema import SAMPLES

    missing = dataset_check(tmp_path / "nope", "train")
    assert not missing.ok and "nope" in missing.name and "split train" in missing.name
    ds = tmp_path / "ds"
    ds.mkdir()
    pq.write_table(SAMPLES.empty_table(), ds / "train.parquet")  # a frozen split of 0 rows
    empty = dataset_check(ds, "train")
    assert not empty.ok and "has no samples" in empty.detail, empty
    assert f"dataset {ds}, split train" == empty.name
