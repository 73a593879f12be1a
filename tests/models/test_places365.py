"""Places365 classifier: labels, official checkpoint loading, preprocessing, indoor score."""

from __future__ import annotations

import warnings
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
from models.weights import WeightsNotFound, download_command
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


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_truncated_checkpoint_is_a_clear_checkpoint_error(tmp_path: Path, legacy: bool):
    """A download cut anywhere (the published files are legacy pickles: cut after 1-3 bytes,
    torch's unpickler fails with an IndexError) is one CheckpointError naming the file."""
    path = tmp_path / "resnet18_places365.pth.tar"
    save_checkpoint(build_model("resnet18"), path, "resnet18", legacy=legacy)
    data = path.read_bytes()
    for cut in (len(data) // 2, 3, 1):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"^{path}: unreadable or truncated checkpoint"):
            read_checkpoint(path)
    path.write_bytes(b"")  # an error without a message is named by its type
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == f"{path}: unreadable or truncated checkpoint (EOFError)"


def test_a_checkpoint_saved_on_a_gpu_loads_on_the_cpu(tmp_path: Path, monkeypatch):
    """Storages tagged ``cuda:0`` (what ``torch.save`` writes on a GPU; torch's location tag
    set so while saving, no GPU needed) load onto the CPU: ``map_location``."""
    import torch.serialization

    model = build_model("resnet18")
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        save_checkpoint(model, tmp_path / "gpu.pth.tar", "resnet18")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(tmp_path / "gpu.pth.tar", weights_only=True)
    state = read_checkpoint(tmp_path / "gpu.pth.tar")
    assert {v.device.type for v in state.values()} == {"cpu"}
    assert torch.equal(state["fc.weight"], model.fc.weight)


def test_saved_checkpoints_have_the_official_layout(tmp_path: Path):
    """The keys of the published files; the zip serialisation unless `legacy` (as published)."""
    import zipfile

    model = build_model("resnet18")
    save_checkpoint(model, tmp_path / "new.pth.tar", "resnet18")
    save_checkpoint(model, tmp_path / "old.pth.tar", "resnet18", legacy=True)
    assert zipfile.is_zipfile(tmp_path / "new.pth.tar")
    assert not zipfile.is_zipfile(tmp_path / "old.pth.tar")
    raw = torch.load(tmp_path / "old.pth.tar", weights_only=True)
    assert set(raw) == {"epoch", "arch", "state_dict", "best_prec1"} and raw["arch"] == "resnet18"


def test_checkpoint_of_another_arch_names_the_arch(tmp_path: Path):
    path = places365_checkpoint(tmp_path, "resnet18")
    with pytest.raises(CheckpointError) as info:
        load_classifier(str(path), "resnet50", "cpu")
    cause = str(info.value.__cause__).splitlines()[0]
    assert str(info.value) == f"{path}: does not fit a Places365 resnet50 ({cause}); check --arch"


def test_the_architectures_differ_as_published_and_others_are_named(tmp_path: Path):
    """WideResNet-18 is ResNet-18 without the stem max-pool: the same weights, twice the
    resolution after the stem (a 64² image: 4² final features, not 2²)."""
    sizes = {}
    for arch in ("resnet18", "wideresnet18"):
        net = build_model(arch)
        stem = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1,
                                   net.layer2, net.layer3, net.layer4)  # fmt: skip
        with torch.no_grad():
            sizes[arch] = tuple(stem(torch.rand(1, 3, 64, 64)).shape[2:])
    assert sizes == {"resnet18": (2, 2), "wideresnet18": (4, 4)}
    with pytest.raises(ValueError) as info:
        build_model("vgg16")
    assert str(info.value) == (
        "unknown Places365 arch 'vgg16'; choose one of resnet18, wideresnet18, resnet50"
    )


def test_the_classifier_is_put_on_the_device_asked_for(tmp_path: Path):
    path = places365_checkpoint(tmp_path, "resnet18")
    model = load_classifier(str(path), "resnet18", "meta")  # a device without memory
    assert {p.device.type for p in model.parameters()} == {"meta"}


def test_missing_weights_name_the_file_and_the_official_url(tmp_path: Path, monkeypatch):
    """A missing local path (a folder or a file, spelt absolute, relative or from ~) names
    where the official file goes and the line fetching it there; a Hub id names the file it
    looked for in that repo and the official URL."""
    url = "http://places2.csail.mit.edu/models_places365/resnet18_places365.pth.tar"
    monkeypatch.chdir(tmp_path)
    home = Path("~").expanduser()
    for spec, dest in (
        (str(tmp_path / "nowhere"), tmp_path / "nowhere" / "resnet18_places365.pth.tar"),
        ("./w/r18.pth.tar", Path("w/r18.pth.tar")),
        ("~/ytocc-no-such/places", home / "ytocc-no-such/places/resnet18_places365.pth.tar"),
    ):
        with pytest.raises(WeightsNotFound) as info:
            resolve_checkpoint(spec, "resnet18")
        assert str(info.value) == (
            f"Places365 resnet18 checkpoint not found at {Path(spec).expanduser()}; fetch: "
            f"`{download_command(url, dest)}`, or pass its path"
        )
    with pytest.raises(WeightsNotFound) as info:
        resolve_checkpoint("someone/places", "resnet18")
    msg = str(info.value)
    assert msg.startswith(
        "Places365 resnet18 checkpoint: file 'resnet18_places365.pth.tar' of Hub repo "
        "'someone/places' is not in the local cache"
    )
    assert msg.endswith(f"; the official file is {url}")


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
    places365_checkpoint(tmp_path)  # the folder holding the official file; default arch, device
    model = load_classifier(str(tmp_path))
    images = np.random.default_rng(0).integers(0, 255, (3, 64, 80, 3), dtype=np.uint8)
    one_batch = classify(model, images, batch_size=16)
    assert one_batch.shape == (3, NUM_SCENES) and np.allclose(one_batch.sum(1), 1, atol=1e-4)
    assert np.allclose(classify(model, images, batch_size=2), one_batch, atol=1e-5)
    empty = classify(model, images[:0])
    assert empty.shape == (0, NUM_SCENES) and empty.dtype == np.float32


def test_preprocess_is_resize_256_centre_crop_224_and_normalise():
    """Against torchvision's own resize, centre crop and normalisation (the official demo's
    transforms, on tensors) of a random image: any other size, crop or corner alignment
    moves values by far more than the 1e-4 float tolerance."""
    from torchvision.transforms.v2 import functional as TF

    img = np.random.default_rng(0).integers(0, 255, (2, 300, 400, 3), np.uint8)
    x = torch.from_numpy(img).permute(0, 3, 1, 2).float() / 255.0
    ref = TF.center_crop(TF.resize(x, [256, 256], antialias=True), [224, 224])
    ref = TF.normalize(ref, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    torch.testing.assert_close(preprocess(img), ref, atol=1e-4, rtol=0)
    # frames as they come: a flipped view (negative strides) and a read-only buffer
    flipped = img[:, :, ::-1]
    torch.testing.assert_close(preprocess(flipped), preprocess(flipped.copy()))
    frozen = img.copy()
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on a non-writable NumPy array
        torch.testing.assert_close(preprocess(frozen), preprocess(img))


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
    # torch's own cause ('g' is no pickle opcode), not its paragraph about weights_only's default
    assert str(info.value) == f"{bad}: unreadable or truncated checkpoint (Unsupported operand 103)"


def test_damaged_label_data_is_one_clear_error(monkeypatch, tmp_path: Path):
    """Package data cut short (a broken install) is named with what was found, never read as a
    shifted class-id mapping: either file one line short is enough."""
    from importlib import resources

    shipped = resources.files("models") / "labels"
    for short in ("places365_categories.txt", "places365_io.txt"):
        labels = tmp_path / short / "labels"
        labels.mkdir(parents=True)
        for name in ("places365_categories.txt", "places365_io.txt"):
            lines = (shipped / name).read_text().splitlines()
            (labels / name).write_text("\n".join(lines[:-1] if name == short else lines))
        monkeypatch.setattr(resources, "files", lambda package, root=labels.parent: root)
        scene_labels.cache_clear()
        counts = (
            "364 names, 365 flags" if short.endswith("categories.txt") else "365 names, 364 flags"
        )
        with pytest.raises(
            RuntimeError, match=rf"^Places365 package data is damaged \({counts}\)$"
        ):
            scene_labels()
    monkeypatch.undo()
    scene_labels.cache_clear()
    assert len(scene_labels().names) == NUM_SCENES
