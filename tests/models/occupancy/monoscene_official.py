"""The names and shapes of MonoScene's released NYUv2 state dict, written from its public
definition (astra-vision/MonoScene ``monoscene/models/*.py`` and gen-efficientnet's
``tf_efficientnet_b7_ns``), independently of ``models/occupancy``; and a Lightning ``.ckpt``
built from that table (random values) for testing the loader offline.

EfficientNet (gen-efficientnet): stages (kind, repeats, kernel, stride, expand, out channels)
ds 1×k3 c16; ir 2×k3 s2 c24; ir 2×k5 s2 c40; ir 3×k3 s2 c80; ir 3×k5 c112; ir 4×k5 s2 c192;
ir 1×k3 c320, all with squeeze-excite 0.25 of the block's input width; B7 scales widths by 2.0
(rounded to multiples of 8) and repeats by 3.1 (ceil); stem 32, head 1280 (both scaled).
"""

from __future__ import annotations

import contextlib
import math
import sys
import types
from pathlib import Path

import torch

STAGES = [("ds", 1, 3, 1, 16), ("ir", 2, 3, 6, 24), ("ir", 2, 5, 6, 40), ("ir", 3, 3, 6, 80),
          ("ir", 3, 5, 6, 112), ("ir", 4, 5, 6, 192), ("ir", 1, 3, 6, 320)]  # fmt: skip
"""(block kind, repeats, kernel, expansion, output channels) of EfficientNet-B0."""

Table = list[tuple[str, tuple[int, ...]]]


def _round8(c: float) -> int:
    v = max(8, int(c + 4) // 8 * 8)
    return v + 8 if v < 0.9 * c else v


def _bn(t: Table, name: str, c: int) -> None:
    t += [(f"{name}.{k}", (c,)) for k in ("weight", "bias", "running_mean", "running_var")]
    t.append((f"{name}.num_batches_tracked", ()))


def efficientnet(width: float = 2.0, depth: float = 3.1, prefix: str = "") -> Table:
    """State dict of gen-efficientnet's EfficientNet without classifier (B7 by default)."""
    t: Table = []
    stem = _round8(32 * width)
    t.append((f"{prefix}conv_stem.weight", (stem, 3, 3, 3)))
    _bn(t, f"{prefix}bn1", stem)
    cin = stem
    for s, (kind, reps, k, exp, cout) in enumerate(STAGES):
        cout = _round8(cout * width)
        for r in range(math.ceil(reps * depth)):
            p = f"{prefix}blocks.{s}.{r}."
            se = int(cin * 0.25)
            mid = cin * exp
            if kind == "ds":
                t.append((p + "conv_dw.weight", (cin, 1, k, k)))
                _bn(t, p + "bn1", cin)
            else:
                t.append((p + "conv_pw.weight", (mid, cin, 1, 1)))
                _bn(t, p + "bn1", mid)
                t.append((p + "conv_dw.weight", (mid, 1, k, k)))
                _bn(t, p + "bn2", mid)
            t += [(p + "se.conv_reduce.weight", (se, mid, 1, 1)), (p + "se.conv_reduce.bias", (se,)),
                  (p + "se.conv_expand.weight", (mid, se, 1, 1)), (p + "se.conv_expand.bias", (mid,))]  # fmt: skip
            if kind == "ds":
                t.append((p + "conv_pw.weight", (cout, cin, 1, 1)))
                _bn(t, p + "bn2", cout)
            else:
                t.append((p + "conv_pwl.weight", (cout, mid, 1, 1)))
                _bn(t, p + "bn3", cout)
            cin = cout
    head = _round8(1280 * width)
    t.append((f"{prefix}conv_head.weight", (head, cin, 1, 1)))
    _bn(t, f"{prefix}bn2", head)
    return t


def tap_channels(width: float = 2.0) -> list[int]:
    """Channels MonoScene's decoder reads: blocks 0, 1, 2, 4 outputs and conv_head."""
    return [_round8(STAGES[i][4] * width) for i in (0, 1, 2, 4)] + [_round8(1280 * width)]


def _conv(t: Table, name: str, cout: int, cin: int, k: tuple[int, ...], bias: bool = True) -> None:
    t.append((f"{name}.weight", (cout, cin, *k)))
    if bias:
        t.append((f"{name}.bias", (cout,)))


def decoder(taps: list[int], out: int, p: str = "net_rgb.decoder.") -> Table:
    """DecoderBN of unet2d.py: conv2, up16..up1 (UpSampleBN), resize_output_1_*."""
    t: Table = []
    c2, c4, c8, c16, c32 = taps
    _conv(t, p + "conv2", c32, c32, (1, 1))
    f = {n: c32 // d for n, d in (("16", 2), ("8", 4), ("4", 8), ("2", 16), ("1", 32))}
    ups = [("up16", c32 + c16, f["16"]), ("up8", f["16"] + c8, f["8"]), ("up4", f["8"] + c4, f["4"]),
           ("up2", f["4"] + c2, f["2"]), ("up1", f["2"] + 3, f["1"])]  # fmt: skip
    for name, cin, cout in ups:
        _conv(t, f"{p}{name}._net.0", cout, cin, (3, 3))
        _bn(t, f"{p}{name}._net.1", cout)
        _conv(t, f"{p}{name}._net.3", cout, cout, (3, 3))
        _bn(t, f"{p}{name}._net.4", cout)
    for n in ("1", "2", "4", "8", "16"):
        _conv(t, f"{p}resize_output_1_{n}", out, f[n], (1, 1))
    return t


def bottleneck(t: Table, p: str, cin: int, planes: int, exp: int, shortcut: int | None) -> None:
    """DDR.Bottleneck3D (with its three pooled shortcuts, built at every stride)."""
    _conv(t, p + "conv1", planes, cin, (1, 1, 1), False)
    _bn(t, p + "bn1", planes)
    for i, k in ((2, (1, 1, 3)), (3, (1, 3, 1)), (4, (3, 1, 1))):
        _conv(t, f"{p}conv{i}", planes, planes, k, False)
        _bn(t, f"{p}bn{i}", planes)
    _conv(t, p + "conv5", planes * exp, planes, (1, 1, 1), False)
    _bn(t, p + "bn5", planes * exp)
    for d in (2, 3, 4):
        _conv(t, f"{p}downsample{d}.1", planes, planes, (1, 1, 1), False)
        _bn(t, f"{p}downsample{d}.2", planes)
    if shortcut is not None:
        _conv(t, p + "downsample.1", shortcut, cin, (1, 1, 1), False)
        _bn(t, p + "downsample.2", shortcut)


def aspp(t: Table, p: str, c: int) -> None:
    for i in range(3):
        for j in (1, 2):
            _conv(t, f"{p}conv{j}.{i}", c, c, (3, 3, 3), False)
            _bn(t, f"{p}bn{j}.{i}", c)


def unet3d(f: int, classes: int, relations: int, size_1_16: tuple[int, int, int],
           p: str = "net_3d_decoder.") -> Table:  # fmt: skip
    """unet3d_nyu.UNet3D with CRP3D.CPMegaVoxels."""
    t: Table = []
    for name, c in (("process_1_4", f), ("process_1_8", 2 * f)):
        for i in range(3):
            bottleneck(t, f"{p}{name}.0.main.{i}.", c, c // 4, 4, None)
        bottleneck(t, f"{p}{name}.1.main.", c, c // 4, 8, 2 * c)
    for name, cin, cout in (("up_1_16_1_8", 4 * f, 2 * f), ("up_1_8_1_4", 2 * f, f)):
        t += [
            (f"{p}{name}.main.0.weight", (cin, cout, 3, 3, 3)),
            (f"{p}{name}.main.0.bias", (cout,)),
        ]
        _bn(t, f"{p}{name}.main.1", cout)
    h = p + "ssc_head_1_4."
    _conv(t, h + "conv0", f, f, (3, 3, 3))
    aspp(t, h, f)
    _conv(t, h + "conv_classes", classes, f, (3, 3, 3))
    c = 4 * f
    cp = p + "CP_mega_voxels."
    mega = math.prod(s // 2 for s in size_1_16)
    _conv(t, cp + "mega_context.0", 2 * c, c, (3, 3, 3))
    for r in range(relations):
        _conv(t, f"{cp}context_prior_logits.{r}.0", mega, c, (1, 1, 1))
    aspp(t, cp + "aspp.", c)
    _conv(t, cp + "resize.0", c, 2 * c * relations + c, (1, 1, 1), False)
    bottleneck(t, cp + "resize.1.main.0.", c, c // 4, 4, None)
    return t


def monoscene_table(feature: int = 200, classes: int = 12, relations: int = 4,
                    width: float = 2.0, depth: float = 3.1,
                    scene: tuple[int, int, int] = (60, 36, 60)) -> Table:  # fmt: skip
    """The whole state dict (B7 + decoder + 3D) of MonoScene for NYUv2 by default."""
    size_1_16 = tuple(math.ceil(s / 4) for s in scene)
    return (
        efficientnet(width, depth, "net_rgb.encoder.original_model.")
        + decoder(tap_channels(width), feature)
        + unet3d(feature, classes, relations, size_1_16)
    )


def parameter_count(table: Table) -> int:
    """Trainable parameters of a table (BatchNorm running statistics left out)."""
    stats = ("running_mean", "running_var", "num_batches_tracked")
    return sum(math.prod(s) for n, s in table if not n.endswith(stats))


LIGHTNING_PARSING = "pytorch_lightning.utilities.parsing"


class AttributeDict(dict):
    """Stands for Lightning's hyper-parameter container inside a written checkpoint."""


AttributeDict.__module__ = LIGHTNING_PARSING


@contextlib.contextmanager
def _lightning_importable():
    """Make ``pytorch_lightning.utilities.parsing.AttributeDict`` importable while pickling."""
    names = ["pytorch_lightning", "pytorch_lightning.utilities", LIGHTNING_PARSING]
    saved = {n: sys.modules.get(n) for n in names}
    for n in names:
        sys.modules[n] = types.ModuleType(n)
    sys.modules[LIGHTNING_PARSING].AttributeDict = AttributeDict
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def write_lightning_checkpoint(
    path: Path, table: Table, seed: int = 0, prefix: str = ""
) -> dict[str, torch.Tensor]:
    """A Lightning-layout ``.ckpt`` holding random tensors of `table`; returns its state dict
    (the names of `table`, without `prefix`).

    Values are small (N(0, 0.05²); running variances in [0.5, 1.5)) so a forward pass through
    the deep EfficientNet stays finite. `prefix` is put before every saved key, as a
    LightningModule that holds the network as ``self.model`` saves them (``model.``).
    """
    g = torch.Generator().manual_seed(seed)
    state = {
        n: torch.randint(0, 50, s, generator=g) if n.endswith("num_batches_tracked")
        else torch.rand(s, generator=g) + 0.5 if n.endswith("running_var")
        else torch.randn(s, generator=g) * 0.05
        for n, s in table
    }  # fmt: skip
    hparams = AttributeDict(n_classes=12, feature=200, dataset="NYU", n_relations=4,
                            class_weights=torch.tensor([0.05] + [1.0] * 11))  # fmt: skip
    with _lightning_importable():
        torch.save(
            {"epoch": 29, "global_step": 23850, "pytorch-lightning_version": "1.4.9",
             "state_dict": {prefix + k: v for k, v in state.items()},
             "hyper_parameters": hparams, "optimizer_states": [],
             "lr_schedulers": []},
            path,
        )  # fmt: skip
    return state
