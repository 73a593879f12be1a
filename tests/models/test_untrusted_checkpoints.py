"""README: "Checkpoints are loaded with weights_only=True or from safetensors".

A checkpoint is a pickle, and a pickle can run code when it is loaded. Each loader of the
product is handed a file in its own official layout that also carries a payload which, if
unpickled, writes a marker file. The loader must refuse the file and the marker must not exist:
with ``weights_only=False`` (or an unpickler that lets any class in) the payload runs, the load
succeeds, and these tests fail. The official files themselves, including DUSt3R's
``argparse.Namespace`` args (admitted through ``safe_globals``), still load.
"""

from __future__ import annotations

import argparse
import builtins
import pickle
import shutil
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from models import dust3r
from models.embed import load_embedder, save_random_dinov2
from models.occupancy.checkpoint import STATE_FILE, load_train_state, save_checkpoint
from models.occupancy.registry import build_network
from models.places365 import build_model, read_checkpoint
from models.torch_files import CheckpointError
from models.weights import WeightsNotFound
from storage.formats import FormatError
from storage.loaders.nyuv2 import read_pickle
from tests.models.occupancy.tiny import TINY_NET
from tests.models.test_dust3r import TINY


class Payload:
    """Unpickles into a call that writes `marker`: what a malicious checkpoint would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


@pytest.fixture(autouse=True, params=["default", "opted-out"])
def torch_default(request, monkeypatch) -> None:
    """Every test also runs with torch's opt-out of weights-only loading set, which flips the
    default of a ``torch.load`` that leaves ``weights_only`` unset (a user's environment, or an
    older torch, may do so): a loader must pass ``weights_only=True`` itself."""
    if request.param == "opted-out":
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "payload-ran"


def refused(load, marker: Path, *errors: type[BaseException]) -> BaseException:
    """Call `load()`; it must raise one of `errors` and the payload must not have run."""
    with pytest.raises(errors) as info:
        load()
    assert not marker.exists(), "the checkpoint's payload ran while loading"
    return info.value


def _places_state() -> dict[str, torch.Tensor]:
    return {f"module.{k}": v for k, v in build_model("resnet18").state_dict().items()}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_places365_refuses_a_checkpoint_that_runs_code(tmp_path, marker, legacy) -> None:
    path = tmp_path / "resnet18_places365.pth.tar"
    ckpt = {"epoch": 0, "arch": "resnet18", "state_dict": _places_state(), "evil": Payload(marker)}
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    err = refused(lambda: read_checkpoint(path), marker, CheckpointError)
    assert str(path) in str(err)


def test_places365_payload_hidden_in_the_state_dict_is_refused(tmp_path, marker) -> None:
    path = tmp_path / "resnet18_places365.pth.tar"
    state = _places_state() | {"module.fc.extra": Payload(marker)}
    torch.save({"state_dict": state}, path)
    refused(lambda: read_checkpoint(path), marker, CheckpointError)


def test_occupancy_train_state_refuses_a_pickle_that_runs_code(tmp_path, marker) -> None:
    torch.manual_seed(0)
    net = build_network("monoscene-lite", feature_dim=8, **TINY_NET)
    meta = {"network": "monoscene-lite", "net_args": {"feature_dim": 8, **TINY_NET}}
    folder = save_checkpoint(tmp_path / "ckpt", net, meta, {"epoch": 1, "rng": Payload(marker)})
    err = refused(lambda: load_train_state(folder), marker, CheckpointError)
    assert str(folder / STATE_FILE) in str(err)  # issue 13: the refusal names the file


def test_occupancy_train_state_of_a_real_run_still_loads(tmp_path) -> None:
    net = build_network("monoscene-lite", feature_dim=8, **TINY_NET)
    opt = torch.optim.AdamW(net.parameters())
    state = {"epoch": 3, "optimizer": opt.state_dict(), "rng": torch.get_rng_state()}
    meta = {"network": "monoscene-lite", "net_args": {"feature_dim": 8, **TINY_NET}}
    folder = save_checkpoint(tmp_path / "ckpt", net, meta, state)
    back = load_train_state(folder)
    assert back["epoch"] == 3 and torch.equal(back["rng"], state["rng"])


def _tiny_dust3r_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    cls = getattr(dust3r.backend()["model"], dust3r.MODEL_CLASS)
    return cls(**dust3r.parse_model_args(TINY)).state_dict()


def test_dust3r_official_checkpoint_with_namespace_args_loads(tmp_path) -> None:
    path = tmp_path / "tiny.pth"
    state = _tiny_dust3r_state()
    torch.save({"args": argparse.Namespace(model=TINY), "model": state}, path)
    net = dust3r.load_checkpoint(path)
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())


def test_dust3r_refuses_a_checkpoint_that_runs_code(tmp_path, marker) -> None:
    path = tmp_path / "tiny.pth"
    args = argparse.Namespace(model=TINY, evil=Payload(marker))
    torch.save({"args": args, "model": _tiny_dust3r_state()}, path)
    err = refused(lambda: dust3r.load_checkpoint(path), marker, CheckpointError)
    assert str(err).startswith(f"{path}: refused by weights-only loading (it names exec")
    assert "\n" not in str(err)  # one line, not torch's paragraph of advice


def test_dust3r_admits_namespace_only_not_other_classes(tmp_path, marker) -> None:
    path = tmp_path / "tiny.pth"
    ckpt = {"args": argparse.Namespace(model=TINY), "model": {}, "lr": Fraction(1, 3)}
    torch.save(ckpt, path)
    err = refused(lambda: dust3r.load_checkpoint(path), marker, CheckpointError)
    assert "it names fractions.Fraction" in str(err)


def test_nyuv2_pickles_refuse_a_payload(tmp_path, marker) -> None:
    path = tmp_path / "0001.pkl"
    path.write_bytes(pickle.dumps({"cam_pose": 1, "voxel_origin": 2, "evil": Payload(marker)}))
    err = refused(lambda: read_pickle(path, ("cam_pose",)), marker, FormatError)
    assert "refusing to load builtins.exec" in str(err)


def _dinov2_with_bin(folder: Path, **extra) -> Path:
    """A tiny DINOv2 folder whose weights are a ``pytorch_model.bin`` pickle (as the official
    Hub repos also ship), with `extra` entries in the state dict."""
    from safetensors.torch import load_file

    save_random_dinov2(folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state | extra, folder / "pytorch_model.bin")
    return folder


def test_dinov2_embedder_refuses_weights_that_run_code(tmp_path, marker) -> None:
    folder = _dinov2_with_bin(tmp_path / "evil", evil=Payload(marker))
    err = refused(lambda: load_embedder(str(folder)), marker, WeightsNotFound)
    assert str(err) == (
        f"DINOv2 embedder: {folder} holds weights that weights-only loading refuses (its pickle "
        "names code or classes, not only tensors); if you trust them, re-save them as safetensors"
    )
    clean = _dinov2_with_bin(tmp_path / "clean")
    assert not any(p.requires_grad for p in load_embedder(str(clean)).parameters())


def _cut_files(folder: Path, good: Path) -> list[Path]:
    """`good` cut short in both serialisations: what an interrupted copy or download leaves."""
    obj = torch.load(good, map_location="cpu", weights_only=False)  # our own file, trusted
    folder.mkdir()
    cuts = []
    for legacy in (True, False):
        whole = folder / f"whole-{legacy}.pt"
        torch.save(obj, whole, _use_new_zipfile_serialization=not legacy)
        raw = whole.read_bytes()
        for n in (
            1,
            2,
            3,
            50,
            len(raw) // 2,
        ):  # legacy: IndexError, EOFError; zip: Runtime/Unpickling
            cut = folder / f"cut-{legacy}-{n}{good.suffix}"
            cut.write_bytes(raw[:n])
            cuts.append(cut)
    return cuts


def _save_each_format(tmp_path: Path) -> dict[str, tuple[Path, object]]:
    """A good file for each torch-pickle loader, and the call that reads a file of that kind."""
    places = tmp_path / "resnet18_places365.pth.tar"
    torch.save({"state_dict": _places_state()}, places)
    d3 = tmp_path / "tiny.pth"
    torch.save({"args": argparse.Namespace(model=TINY), "model": _tiny_dust3r_state()}, d3)
    net = build_network("monoscene-lite", feature_dim=8, **TINY_NET)
    meta = {"network": "monoscene-lite", "net_args": {"feature_dim": 8, **TINY_NET}}
    folder = save_checkpoint(tmp_path / "ckpt", net, meta, {"epoch": 1})
    state = folder / STATE_FILE

    def train_state(cut: Path) -> object:
        shutil.copyfile(cut, state)
        return load_train_state(folder)

    return {
        "places365": (places, read_checkpoint),
        "dust3r": (d3, dust3r.load_checkpoint),
        "train_state": (state, train_state),
    }


@pytest.mark.parametrize("loader", ["places365", "dust3r", "train_state"])
def test_a_cut_checkpoint_is_one_line_naming_the_file(tmp_path, loader) -> None:
    """Every torch-pickle loader reports a file cut anywhere, in either serialisation, as one
    CheckpointError line naming it: a legacy file cut after 1-3 bytes raised a bare IndexError
    from DUSt3R's and the train-state loaders, a cut zip an UnpicklingError paragraph."""
    good, load = _save_each_format(tmp_path)[loader]
    for cut in _cut_files(tmp_path / "cuts", good):
        with pytest.raises(CheckpointError) as info:
            load(cut)
        msg = str(info.value)
        assert "unreadable or truncated checkpoint" in msg and "\n" not in msg, (cut.name, msg)
        assert str(good if loader == "train_state" else cut) in msg, (cut.name, msg)
