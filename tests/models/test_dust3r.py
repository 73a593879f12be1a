"""models/dust3r.py: a tiny random DUSt3R in both official formats, and global alignment on truth."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from models import dust3r
from models.weights import WeightsNotFound
from storage.config import Dust3rConfig
from tests.support.rooms import camera_pose
from tests.support.truth_room import cast, room_scene

TINY = (
    "AsymmetricCroCo3DStereo(pos_embed='RoPE100', img_size=(224, 224), head_type='linear', "
    "output_mode='pts3d', depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), "
    "enc_embed_dim=64, enc_depth=2, enc_num_heads=2, dec_embed_dim=32, dec_depth=2, "
    "dec_num_heads=2, patch_embed_cls='ManyAR_PatchEmbed')"
)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> dict[str, Path]:
    """A randomly initialised tiny DUSt3R saved as a .pth checkpoint and as an HF folder."""
    torch.manual_seed(0)
    net = getattr(dust3r.backend()["model"], dust3r.MODEL_CLASS)(**dust3r.parse_model_args(TINY))
    folder = tmp_path_factory.mktemp("tiny_dust3r")
    pth = folder / "tiny.pth"
    torch.save({"args": argparse.Namespace(model=TINY), "model": net.state_dict()}, pth)
    net.save_pretrained(folder / "hf")
    return {"pth": pth, "hf": folder / "hf"}


def frames(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, 120, 160, 3), dtype=np.uint8)


def test_tiny_model_runs_at_stored_size_from_both_formats(tiny_weights):
    torch.set_num_threads(1)
    outs = []
    for spec in (tiny_weights["pth"], tiny_weights["hf"]):
        cfg = Dust3rConfig(weights=str(spec), image_size=160, niter=3, device="cpu")
        r = dust3r.reconstruct_images(frames(), cfg)
        assert r["K"].shape == (3, 3, 3) and r["cam2world"].shape == (3, 4, 4)
        assert r["depth"].shape == r["conf"].shape == (3, 120, 160)
        assert r["depth"].dtype == r["conf"].dtype == np.float32
        np.testing.assert_allclose(r["K"][:, :2, 2], [[80, 60]] * 3, atol=1e-3)  # centre kept
        np.testing.assert_allclose(r["cam2world"][:, 3], [[0, 0, 0, 1]] * 3)
        outs.append(r["depth"])
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4)  # same weights, same result


def test_nan_network_output_fails_with_nan_focal(tiny_weights):
    from storage.markers import StageFailure
    from tasks.reconstruct import check_recon

    cfg = Dust3rConfig(weights=str(tiny_weights["pth"]), image_size=160, niter=3)
    net = dust3r.load_model(cfg.weights, "cpu")
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    try:
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.startswith("downstream_head"):
                    p.fill_(float("nan"))
        r = dust3r.reconstruct_images(frames(2), cfg)
    finally:
        net.load_state_dict(saved)
    with pytest.raises(StageFailure, match="NaN focal"):
        check_recon(r["K"], r["cam2world"], r["depth"], r["conf"], cfg)


def test_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsNotFound, match="DUSt3R"):
        dust3r.load_model(str(tmp_path / "nope.pth"), "cpu")


def test_checkpoint_args_are_parsed_without_eval():
    kw = dust3r.parse_model_args(TINY)
    assert kw["depth_mode"] == ("exp", -np.inf, np.inf) and kw["enc_depth"] == 2
    assert kw["landscape_only"] is False
    with pytest.raises(ValueError, match="unexpected name"):
        dust3r.parse_model_args("AsymmetricCroCo3DStereo(x=os)")


def test_sparse_graph_above_the_complete_limit():
    cfg = Dust3rConfig(complete_max_frames=4)
    assert dust3r.pair_graph(4, cfg) == "complete"
    assert dust3r.pair_graph(5, cfg) == cfg.sparse_graph
    assert dust3r.pair_graph(3, cfg, sparse=True) == cfg.sparse_graph


def test_each_official_format_loads_the_same_weights_in_eval_mode(tiny_weights):
    """A .pth checkpoint, an HF folder and that folder's .safetensors file are one network."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        want = torch.load(tiny_weights["pth"], weights_only=True)["model"]
    specs = (tiny_weights["pth"], tiny_weights["hf"], tiny_weights["hf"] / "model.safetensors")
    for spec in specs:
        net = dust3r.load_model(str(spec), "cpu")
        assert not net.training, spec
        got = net.state_dict()
        assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want), spec


def test_a_checkpoint_saved_on_a_gpu_loads_on_a_cpu_only_machine(tmp_path, monkeypatch):
    """DUSt3R is trained on GPUs: a .pth whose storages are tagged ``cuda:0`` (what
    ``torch.save`` writes there; torch's location tag set so while saving, no GPU needed)
    loads on a CPU-only machine, where torch itself refuses it unmapped."""
    torch.manual_seed(0)
    net = getattr(dust3r.backend()["model"], dust3r.MODEL_CLASS)(**dust3r.parse_model_args(TINY))
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save({"args": argparse.Namespace(model=TINY), "model": net.state_dict()},
                   tmp_path / "gpu.pth")  # fmt: skip
    if torch.cuda.is_available():
        pytest.skip("a machine with a GPU loads the file unmapped too")
    with (
        pytest.raises(RuntimeError, match="CUDA"),
        torch.serialization.safe_globals([argparse.Namespace]),
    ):
        torch.load(tmp_path / "gpu.pth", weights_only=True)
    got = dust3r.load_checkpoint(tmp_path / "gpu.pth").state_dict()
    assert all(torch.equal(got[k], v) for k, v in net.state_dict().items())


def test_a_folder_without_config_json_is_a_clear_error(tiny_weights, tmp_path):
    """An HF folder needs its config.json: without it, one error naming the folder."""
    folder = tmp_path / "no-config"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(
        (tiny_weights["hf"] / "model.safetensors").read_bytes()
    )
    for spec in (folder, folder / "model.safetensors"):
        with pytest.raises(WeightsNotFound) as err:
            dust3r.load_model(str(spec), "cpu")
        assert str(err.value) == f"DUSt3R weights: {folder} has no config.json (HF format)"


def test_checkpoint_args_as_a_dict_and_a_network_that_does_not_fit(tmp_path):
    """Official files hold ``args`` as a Namespace, others as a dict: both load; weights that
    miss a key or carry an extra one are refused, never half-loaded."""
    net = getattr(dust3r.backend()["model"], dust3r.MODEL_CLASS)(**dust3r.parse_model_args(TINY))
    state = net.state_dict()
    torch.save({"args": {"model": TINY}, "model": state}, tmp_path / "dict.pth")
    got = dust3r.load_checkpoint(tmp_path / "dict.pth").state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items())
    first = next(iter(state))
    for name, bad in (("missing", {k: v for k, v in state.items() if k != first}),
                      ("extra", {**state, "head.extra": torch.zeros(1)})):  # fmt: skip
        torch.save({"args": {"model": TINY}, "model": bad}, tmp_path / f"{name}.pth")
        with pytest.raises(RuntimeError, match="Missing key|Unexpected key"):
            dust3r.load_checkpoint(tmp_path / f"{name}.pth")


def test_the_network_is_put_on_the_device_asked_for(tiny_weights):
    net = dust3r.load_model(str(tiny_weights["pth"]), "meta")  # a device without memory
    assert {p.device.type for p in net.parameters()} == {"meta"}


def test_missing_weights_name_what_was_looked_for_and_how_to_fetch_it(tmp_path, monkeypatch):
    """A missing .pth names the DUSt3R checkpoint; an uncached Hub id names the weights and
    the ``hf download`` line fetching just the HF files (config and safetensors)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFound) as err:
        dust3r.load_model(str(tmp_path / "nope.pth"), "cpu")
    assert str(err.value).startswith("DUSt3R checkpoint: ")
    with pytest.raises(WeightsNotFound) as err:
        dust3r.load_model("naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt", "cpu")
    msg = str(err.value)
    assert msg.startswith("DUSt3R weights: Hub repo 'naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt' ")
    assert "download naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt --include config.json " in msg
    assert "--include '*.safetensors'" in msg


def test_checkpoint_args_naming_another_call_are_refused_with_their_text():
    long_call = "Other(" + "x=1, " * 30 + ")"
    for expr in ("os.system('rm -rf /')", "[1, 2]", long_call):
        with pytest.raises(ValueError) as err:
            dust3r.parse_model_args(expr)
        assert str(err.value) == (
            f"checkpoint args name no AsymmetricCroCo3DStereo(...) call: {expr[:80]!r}"
        )


def test_without_any_dust3r_package_the_error_says_what_to_install(monkeypatch):
    import importlib

    def missing(name, *a, **k):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(ImportError) as err:
        dust3r.backend()
    assert str(err.value) == (
        "neither `dust3r` nor `mini_dust3r` is installed (pip install mini-dust3r)"
    )


def test_network_size_keeps_the_long_side_in_patches():
    """The long side becomes `image_size`, the short one the nearest multiple of 16, never 0."""
    assert dust3r.network_size(480, 640, 512) == (384, 512)  # landscape
    assert dust3r.network_size(640, 480, 512) == (512, 384)  # portrait: the height is long
    assert dust3r.network_size(100, 300, 512) == (176, 512)  # 170.7 rounds to 11 patches
    assert dust3r.network_size(10, 1000, 224) == (16, 224)  # a sliver keeps one patch


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """s, R, t minimising |dst - (s R src + t)|."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.diag([1, 1, np.sign(np.linalg.det(U @ Vt))])
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (a**2).sum(1).mean())
    return s, R, md - s * R @ ms


@pytest.mark.slow
def test_global_alignment_of_true_point_maps_recovers_focal_and_poses():
    """Pairwise point maps from exact truth → focal within 2 %, poses within 1° / 2 % of path."""
    torch.manual_seed(0)
    torch.set_num_threads(2)
    w, h, f = 160, 120, 80.0
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    scene, labels = room_scene()
    poses = np.stack(
        [
            camera_pose(
                np.array([2.0 + 0.25 * i, 1.8 + 0.2 * (i % 2), 1.4 + 0.1 * (i % 3)]), 1.0 + 0.15 * i
            )
            for i in range(5)
        ]
    )
    cam_pts = []
    for pose in poses:
        depth, _ = cast(scene, labels, K, pose, h, w)
        v, u = np.mgrid[0:h, 0:w]
        rays = np.stack([(u - K[0, 2]) / f, (v - K[1, 2]) / f, np.ones((h, w))], -1)
        cam_pts.append(rays * depth[..., None])  # DUSt3R pixel centres sit on integers
    world = [p @ T[:3, :3].T + T[:3, 3] for p, T in zip(cam_pts, poses, strict=True)]
    edges = [(i, j) for i in range(5) for j in range(5) if i != j]

    def in_cam(i: int, pts: np.ndarray) -> np.ndarray:
        T = np.linalg.inv(poses[i])
        return pts @ T[:3, :3].T + T[:3, 3]

    def t(a: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(a)).float()

    conf = torch.full((len(edges), h, w), 10.0)
    shape = torch.tensor([[h, w]] * len(edges))
    output = {
        "view1": {"idx": [i for i, _ in edges], "true_shape": shape},
        "view2": {"idx": [j for _, j in edges], "true_shape": shape},
        "pred1": {"pts3d": t([cam_pts[i] for i, _ in edges]), "conf": conf},
        "pred2": {"pts3d_in_other_view": t([in_cam(i, world[j]) for i, j in edges]), "conf": conf},
    }
    cfg = Dust3rConfig(niter=300, lr=0.01, schedule="cosine")
    r = dust3r.global_align(output, cfg, "cpu")
    focal = r["K"][:, 0, 0]
    assert np.abs(focal / f - 1).max() < 0.02, focal
    s, R, tr = umeyama(r["cam2world"][:, :3, 3], poses[:, :3, 3])
    rot_err = [
        Rotation.from_matrix(R @ a[:3, :3] @ b[:3, :3].T).magnitude()
        for a, b in zip(r["cam2world"], poses, strict=True)
    ]
    assert np.degrees(max(rot_err)) < 1.0, np.degrees(rot_err)
    path = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1).sum()
    centres = s * r["cam2world"][:, :3, 3] @ R.T + tr
    assert np.linalg.norm(centres - poses[:, :3, 3], axis=1).max() < 0.02 * path
    depth_scaled = s * r["depth"]
    true_depth = np.stack([p[..., 2] for p in cam_pts])
    assert np.median(np.abs(depth_scaled / true_depth - 1)) < 0.02
