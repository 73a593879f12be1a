"""Preflight: every model the config's backends load is found before any work, or all missing ones
are listed at once with a command that fetches them (issue 13, case 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.preflight import PreflightError, dataset_check, require, weights_checks
from storage.config import load_config

SYNTH = ["truth_dir=/nowhere"] + [f"{s}.backend=synthetic-gt" for s in ("indoor", "reconstruct", "segment")]  # fmt: skip


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
    cfg = load_config(None, [f"indoor.places365.weights={tmp_path / 'places'}"])
    with pytest.raises(PreflightError) as e:
        require(weights_checks(cfg, embed=True))
    msg = str(e.value)
    assert len(e.value.problems) == 4 and "nothing was started" in msg
    for name in ("Places365", "DUSt3R", "Mask2Former", "DINOv2"):
        assert name in msg
    assert "huggingface-cli" not in msg  # it does not exist in the installed huggingface_hub
    assert "hf download naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt" in msg
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
    cfg = load_config(None, [f"indoor.places365.weights={places}"])
    checks = weights_checks(cfg)
    assert [c.ok for c in checks] == [True, True, True], [c.line() for c in checks]
    require(checks)


def test_only_the_chosen_backends_are_checked(empty_hub) -> None:
    assert weights_checks(load_config(None, SYNTH)) == []
    cfg = load_config(None, [*SYNTH, "segment.backend=san"])
    (check,) = weights_checks(cfg)
    assert not check.ok and "SAN" in check.name and "san_vit_b_16.pth" in check.detail
    (only,) = weights_checks(load_config(), ("reconstruct",))  # `ytocc stage reconstruct`
    assert "DUSt3R" in only.name


def test_a_new_backend_is_checked_through_its_registry_line(monkeypatch, tmp_path) -> None:
    import sys
    import types

    from models.backends import WeightSpec
    from models.segmenters import SEGMENTERS

    class TestNet:
        @classmethod
        def required_weights(cls, cfg):
            return [WeightSpec("segment", "test-net", "/nowhere/net", "Test net", missing)]

    def missing():
        from models.weights import WeightsNotFound

        raise WeightsNotFound("Test net: nothing at /nowhere/net")

    mod = types.ModuleType("ytocc_test_backend")
    mod.TestNet = TestNet
    monkeypatch.setitem(sys.modules, "ytocc_test_backend", mod)
    monkeypatch.setitem(SEGMENTERS.entries, "mask2former-ade", "ytocc_test_backend:TestNet")
    (check,) = weights_checks(load_config(), ("segment",))
    assert not check.ok and check.detail == "Test net: nothing at /nowhere/net"


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


def test_a_split_a_ytocc_dataset_lacks_names_the_splits_it_has(tmp_path) -> None:
    """`train evaluate --split test` on a frozen dataset said "not a dataset folder": it is
    one; say which splits it has."""
    import pyarrow.parquet as pq

    from storage.dataset_schema import SAMPLES

    ds = tmp_path / "ds"
    ds.mkdir()
    for split in ("train", "val"):
        pq.write_table(SAMPLES.empty_table(), ds / f"{split}.parquet")
    check = dataset_check(ds, "test")
    assert not check.ok and "not a dataset folder" not in check.detail, check
    assert "without a 'test' split (its splits: train, val" in check.detail
    (ds / "train.parquet").unlink()
    (ds / "val.parquet").unlink()
    (ds / "dataset.json").write_text("{}")  # a record, no split file: still ours
    assert "its splits: none" in dataset_check(ds, "train").detail
    (ds / "dataset.json").unlink()
    assert "not a dataset folder" in dataset_check(ds, "train").detail
