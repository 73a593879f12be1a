"""MonoScene: the official names, shapes and parameter count; the released-checkpoint loader;
FLoSP reads the right pixels; logits come out in our (x, y, z) layout; the head is the SSC head.
"""

from __future__ import annotations

import collections

import pytest
import torch

from models.occupancy.checkpoint import CheckpointError, load_network, load_weights, save_checkpoint
from models.occupancy.monoscene import MonoScene, flosp, project_voxels
from models.occupancy.registry import build_network, head_prefix, required_weights
from tests.models.occupancy.monoscene_official import (
    monoscene_table,
    parameter_count,
    write_lightning_checkpoint,
)

torch.set_num_threads(2)

RELEASED_NYU_PARAMETERS = 298_347_156
"""Parameters of the public NYUv2 model: B7 63,786,960 + 2D decoder 69,220,600 + 3D net
165,339,596 (the CRP's 800-wide ASPP alone 103,689,600).

Measured, not only summed from our table: astra-vision/MonoScene at commit f52bbb1 (Dec 2023),
its ``UNet2D`` (``num_features=2560, out_feature=200``) on gen-efficientnet's
``tf_efficientnet_b7_ns`` (package ``geffnet`` 1.0.2, what its ``torch.hub`` call builds;
timm's ``tf_efficientnet_b7`` gives the same) plus ``unet3d_nyu.UNet3D(12, feature=200,
full_scene_size=(60, 36, 60), n_relations=4, context_prior=True)``, instantiated outside this
repository with random weights: 298,347,156 parameters, and its 1,825 state-dict names and
shapes equal ``monoscene_table()`` and ours. With the same weights its 2D maps and 3D logits
equal ours (max difference 0 and 9e-8). The often quoted "149.6 M" is MonoScene's
SemanticKITTI model (``feature=64``, 20 classes, ``project_scale=2``, 256×256×32, the KITTI
3D net): 149,555,444 measured the same way."""

TINY = {"backbone": "tf_efficientnet_b0", "feature": 8, "dims": (16, 16, 8)}
"""A small MonoScene: EfficientNet-B0 (same family and names as B7), 8-wide 3D net, 16×16×8."""
TINY_TABLE = {"feature": 8, "width": 1.0, "depth": 1.0, "scene": (16, 8, 16)}


def test_names_shapes_and_parameter_count_are_the_released_models():
    with torch.device("meta"):
        net = MonoScene(backbone_weights=None)
    table = monoscene_table()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == dict(table)
    assert parameter_count(table) == RELEASED_NYU_PARAMETERS
    assert sum(p.numel() for p in net.parameters()) == RELEASED_NYU_PARAMETERS


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "monoscene_tiny.ckpt"
    return path, write_lightning_checkpoint(path, monoscene_table(**TINY_TABLE))


def test_lightning_checkpoint_loads_every_tensor_weights_only(tiny_ckpt):
    path, state = tiny_ckpt
    net = load_network(path, **TINY)
    own = net.state_dict()
    assert set(own) == set(state)
    for k, v in state.items():
        assert torch.equal(own[k], v), k
    net.eval()
    k = torch.tensor([[[20.0, 0, 16], [0, 20.0, 12], [0, 0, 1]]])
    pose = torch.eye(4)[None]
    with torch.no_grad():
        logits = net(torch.rand(1, 3, 24, 32), k, pose, torch.tensor([[-0.64, -0.64, 0.2]]))
    assert logits.shape == (1, 12, 16, 16, 8) and torch.isfinite(logits).all()


def test_checkpoints_that_do_not_fit_are_named(tiny_ckpt, tmp_path):
    path, state = tiny_ckpt
    with pytest.raises(CheckpointError, match="shapes differ"):
        load_network(path, **{**TINY, "dims": (24, 16, 8)})  # CRP mega voxels: 6, not 4
    short = {k: v for k, v in state.items() if "conv_classes" not in k}
    torch.save({"state_dict": short}, tmp_path / "short.ckpt")
    with pytest.raises(CheckpointError, match="no net_3d_decoder.ssc_head_1_4.conv_classes"):
        load_network(tmp_path / "short.ckpt", **TINY)
    torch.save({"state_dict": {**state, "extra.weight": torch.zeros(1)}}, tmp_path / "extra.ckpt")
    with pytest.raises(CheckpointError, match=r"1 unexpected \(e.g. \['extra.weight'\]\)"):
        load_network(tmp_path / "extra.ckpt", **TINY)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.ckpt"):
        load_network(tmp_path / "junk.ckpt", **TINY)


class Payload:
    """A class no weights-only reader may rebuild."""


def test_foreign_classes_in_a_checkpoint_are_refused(tmp_path):
    torch.save({"state_dict": {}, "x": Payload(), "c": collections.Counter()}, tmp_path / "p.ckpt")
    with pytest.raises(CheckpointError, match="refusing to unpickle.*Payload"):
        load_network(tmp_path / "p.ckpt", **TINY)


def test_flosp_reads_each_voxel_at_its_pixel_divided_by_the_scale():
    fmap = torch.arange(2 * 6 * 8, dtype=torch.float32).reshape(1, 2, 6, 8)
    pix = torch.tensor([[[0, 0], [5, 3], [7, 5], [9, 1]]])
    fov = torch.tensor([[True, True, True, False]])
    out = flosp(fmap, pix, fov, 1)
    assert out[0, :, 0].tolist() == fmap[0, :, 0, 0].tolist()
    assert out[0, :, 1].tolist() == fmap[0, :, 3, 5].tolist()
    assert out[0, :, 3].tolist() == [0.0, 0.0]
    half = flosp(fmap[:, :, :3, :4], pix, fov, 2)
    assert half[0, :, 2].tolist() == fmap[0, :, 2, 3].tolist()  # (7,5)//2 = (3,2)


def test_projection_rounds_to_the_nearest_pixel_and_masks_the_frustum():
    k = torch.tensor([[[10.0, 0, 4], [0, 10.0, 3], [0, 0, 1]]])
    pts = torch.tensor([[[0.0, 0.0, 1.0], [0.26, -0.14, 1.0], [0.0, 0.0, -1.0], [1.0, 0, 1.0]]])
    pix, fov = project_voxels(pts, k, (6, 8))
    assert pix[0, :2].tolist() == [[4, 3], [7, 2]]
    assert fov[0].tolist() == [True, True, False, False]


def test_logits_follow_our_grid_layout_and_the_head_is_the_ssc_head(tmp_path):
    torch.manual_seed(0)
    net = build_network("monoscene", backbone="test_efficientnet", backbone_weights=None,
                        feature=8, dims=(16, 12, 8)).eval()  # fmt: skip
    k = torch.tensor([[[20.0, 0, 16], [0, 20.0, 12], [0, 0, 1]]])
    with torch.no_grad():
        out = net.run(torch.rand(1, 3, 24, 32), k, torch.eye(4)[None], torch.zeros(1, 3))
    assert out["logits"].shape == (1, 12, 16, 12, 8) and out["features"].shape == (1, 8, 16, 12, 8)
    # CRP at 1/4 in (x, z, y): (4, 2, 3), N = 24 voxels, M = 2·1·1 mega voxels
    assert out["p_logits"].shape == (1, 4, 2, 24)
    assert head_prefix(net) == "net_3d_decoder.ssc_head_1_4."
    meta = {"network": "monoscene", "net_args": {"backbone": "test_efficientnet",
            "feature": 8, "dims": [16, 12, 8]}}  # fmt: skip
    save_checkpoint(tmp_path / "ck", net, meta)
    torch.manual_seed(1)
    other = build_network("monoscene", **meta["net_args"], backbone_weights=None)
    before = other.head.conv_classes.weight.clone()
    skipped = load_weights(tmp_path / "ck", other, skip_head=True)
    assert skipped and all(s.startswith("net_3d_decoder.ssc_head_1_4.") for s in skipped)
    assert torch.equal(other.head.conv_classes.weight, before)
    assert torch.equal(other.net_3d_decoder.up_1_8_1_4.main[0].weight,
                       net.net_3d_decoder.up_1_8_1_4.main[0].weight)  # fmt: skip


def test_required_weights_are_the_backbones_hub_file():
    assert required_weights("monoscene", {}) == [
        ("timm/tf_efficientnet_b7.ns_jft_in1k", "model.safetensors")
    ]
    assert required_weights("monoscene", {"backbone_weights": None}) == []
    assert required_weights("monoscene-lite", {}) == []


def test_a_released_checkpoint_initialises_fine_tuning_all_but_the_ssc_head(tiny_ckpt):
    """Fine-tuning from the released ``.ckpt``: every weight but MonoScene's SSC head (its
    ``head_prefix``, not the default ``head.``) is loaded; the head keeps its fresh values."""
    path, state = tiny_ckpt
    torch.manual_seed(1)
    net = build_network("monoscene", backbone_weights=None, **TINY)
    head = head_prefix(net)
    fresh = {k: v.clone() for k, v in net.state_dict().items() if k.startswith(head)}
    skipped = load_weights(path, net, skip_head=True)
    assert skipped == sorted(fresh) and all(
        k.startswith("net_3d_decoder.ssc_head_1_4.") for k in skipped
    )
    own = net.state_dict()
    assert all(torch.equal(own[k], fresh[k]) for k in skipped)
    assert all(torch.equal(own[k], v) for k, v in state.items() if k not in fresh)
    assert load_weights(path, net) == [] and torch.equal(own[skipped[0]], state[skipped[0]])


def test_a_released_checkpoint_loads_on_the_device_asked_for(tiny_ckpt):
    net = load_network(tiny_ckpt[0], "meta", **TINY)  # a device without memory
    assert {p.device.type for p in net.parameters()} == {"meta"}
