"""Places365 classifier: labels, official checkpoint loading, preprocessing, indoor score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.places365 import (
    NUM_SCENES,
    CheckpointError,
    build_model,
    classify,
    load_classifier,
    outdoor_scores,
    preprocess,
    read_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    scene_labels,
    top_classes,
)
from models.weights import WeightsNotFound
from tests.models.tiny_semantics import places365_checkpoint

torch.set_num_threads(1)


def test_scene_labels_ship_365_names_with_official_indoor_outdoor_flags():
    labels = scene_labels()
    assert len(labels.names) == NUM_SCENES
    name = dict(zip(labels.names, labels.outdoor, strict=True))
    assert name["living_room"] is np.False_ and name["bedroom"] is np.False_
    assert name["beach"] is np.True_ and name["street"] is np.True_
    assert labels.names[0] == "airfield" and labels.names[-1] == "zen_garden"
    # the official IO file flags 205 of 365 outdoor; the bounds catch a parser that flags none,
    # all or a wrong column (a swapped 1/2 is caught by the named scenes above)
    assert 100 < labels.outdoor.sum() < 265


@pytest.mark.parametrize("arch", ["resnet18", "wideresnet18"])
def test_official_format_checkpoint_loads_into_the_same_network(tmp_path: Path, arch: str):
    path = places365_checkpoint(tmp_path, arch, seed=3)
    raw = torch.load(path, weights_only=True)
    assert all(k.startswith("module.") for k in raw["state_dict"])
    model = load_classifier(str(path), arch, "cpu")
    torch.manual_seed(3)
    fresh = build_model(arch)
    assert torch.equal(model.fc.weight, fresh.fc.weight)
    images = np.random.default_rng(0).integers(0, 255, (3, 90, 120, 3), np.uint8)
    probs = classify(model, images, batch_size=2)
    assert probs.shape == (3, NUM_SCENES)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_legacy_serialised_checkpoint_loads_with_weights_only(tmp_path: Path):
    model = build_model("resnet18")
    save_checkpoint(model, tmp_path / "legacy.pth.tar", "resnet18", legacy=True)
    loaded = load_classifier(str(tmp_path / "legacy.pth.tar"), "resnet18", "cpu")
    assert torch.equal(loaded.conv1.weight, model.conv1.weight)


def test_a_folder_holding_the_official_file_name_resolves(tmp_path: Path):
    path = places365_checkpoint(tmp_path / "places", "resnet18")
    assert resolve_checkpoint(str(tmp_path / "places"), "resnet18") == path


def test_truncated_checkpoint_is_a_clear_checkpoint_error(tmp_path: Path):
    path = places365_checkpoint(tmp_path, "resnet18")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        read_checkpoint(path)


def test_checkpoint_of_another_arch_names_the_arch(tmp_path: Path):
    path = places365_checkpoint(tmp_path, "resnet18")
    with pytest.raises(CheckpointError, match="resnet50"):
        load_classifier(str(path), "resnet50", "cpu")


def test_missing_weights_name_the_file_and_the_official_url(tmp_path: Path):
    with pytest.raises(WeightsNotFound, match=r"places2\.csail\.mit\.edu.*resnet18_places365"):
        resolve_checkpoint(str(tmp_path / "nowhere"), "resnet18")
    with pytest.raises(WeightsNotFound, match=r"someone/places.*resnet18_places365\.pth\.tar"):
        resolve_checkpoint("someone/places", "resnet18")


def test_preprocess_resizes_crops_centre_and_normalises():
    img = np.zeros((1, 300, 400, 3), np.uint8)
    img[:, :, :, 0] = 255  # pure red
    x = preprocess(img)
    assert x.shape == (1, 3, 224, 224)
    red = (1 - 0.485) / 0.229
    np.testing.assert_allclose(x[0, 0].numpy(), red, rtol=1e-5)
    np.testing.assert_allclose(x[0, 1].numpy(), -0.456 / 0.224, rtol=1e-5)


def test_outdoor_score_is_the_mean_flag_of_the_top_k_classes():
    outdoor = np.array([False, True, True, False, True])
    probs = np.array([[0.5, 0.2, 0.1, 0.15, 0.05], [0.0, 0.6, 0.3, 0.05, 0.05]])
    np.testing.assert_allclose(outdoor_scores(probs, outdoor, top_k=2), [0.5, 1.0])
    np.testing.assert_allclose(outdoor_scores(probs, outdoor, top_k=1), [0.0, 1.0])
    top = top_classes(probs, ("a", "b", "c", "d", "e"), k=2)
    assert [n for n, _ in top[0]] == ["a", "b"] and top[1][0] == ("b", 0.6)


def test_classify_batches_agree_and_no_images_give_no_rows(tmp_path: Path):
    model = load_classifier(str(places365_checkpoint(tmp_path)), "resnet18", device="cpu")
    images = np.random.default_rng(0).integers(0, 255, (3, 64, 80, 3), dtype=np.uint8)
    one_batch = classify(model, images, batch_size=16)
    assert one_batch.shape == (3, NUM_SCENES) and np.allclose(one_batch.sum(1), 1, atol=1e-4)
    assert np.allclose(classify(model, images, batch_size=2), one_batch, atol=1e-5)
    empty = classify(model, images[:0])
    assert empty.shape == (0, NUM_SCENES) and empty.dtype == np.float32


def test_resizing_is_antialiased_like_the_official_pil_preprocessing():
    """A 1-pixel checkerboard holds nothing a 256² image can show: resized with antialiasing
    (as PIL does in the official demo) it is a flat grey; without, it aliases to full contrast
    (per-channel std ≈ 2.2 after normalisation). 0.2 is a tenth of that."""
    board = ((np.indices((768, 768)).sum(0) % 2) * 255).astype(np.uint8)
    x = preprocess(np.repeat(board[None, ..., None], 3, -1))
    assert float(x.std(dim=(2, 3)).max()) < 0.2


def test_a_bare_state_dict_loads_and_other_objects_are_named_not_places365(tmp_path: Path):
    state = {k: v for k, v in build_model("resnet18").state_dict().items()}
    torch.save(state, tmp_path / "bare.pth")  # no {'state_dict': ...} wrapper, no 'module.'
    assert set(read_checkpoint(tmp_path / "bare.pth")) == set(state)
    for name, obj in (("list", [torch.zeros(1)]), ("strings", {"state_dict": {"a": "b"}})):
        torch.save(obj, tmp_path / f"{name}.pth")
        with pytest.raises(CheckpointError, match=r"\.pth: not a Places365 checkpoint \(no tensor"):
            read_checkpoint(tmp_path / f"{name}.pth")


def test_an_unreadable_checkpoint_names_the_file_and_the_first_line_of_the_cause(tmp_path: Path):
    bad = tmp_path / "r18.pth.tar"
    bad.write_bytes(b"\x80\x02garbage that is no pickle")
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(bad)
    cause = str(info.value.__cause__).strip()
    first = cause.splitlines()[0] if cause else type(info.value.__cause__).__name__
    assert str(info.value) == f"{bad}: unreadable or truncated checkpoint ({first})"
