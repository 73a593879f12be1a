"""DUSt3R adapter: weights loading, pairwise inference and global alignment for one clip.

Uses the official ``dust3r`` package when importable, else ``mini_dust3r`` (same API). Frames
are resized (not cropped) to the network size, long side ``image_size``, both sides multiples of
16, so the whole stored frame is seen; K, depth and confidence are mapped back to the stored
size. DUSt3R returns z-depth and cam2world in OpenCV camera axes, which is what recon.npz holds.
"""

from __future__ import annotations

import ast
import functools
import importlib
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import torch

from models.device import pick_device
from models.torch_files import load_weights_only
from models.weights import WeightsNotFound, resolve_dir, resolve_file
from storage.config import Dust3rConfig
from storage.markers import StageFailure

PATCH = 16
MODEL_CLASS = "AsymmetricCroCo3DStereo"


def backend() -> dict[str, ModuleType]:
    """The DUSt3R modules: official ``dust3r`` first, else ``mini_dust3r``."""
    for pkg in ("dust3r", "mini_dust3r"):
        try:
            return {
                "name": pkg,  # type: ignore[dict-item]
                "model": importlib.import_module(f"{pkg}.model"),
                "inference": importlib.import_module(f"{pkg}.inference"),
                "pairs": importlib.import_module(f"{pkg}.image_pairs"),
                "opt": importlib.import_module(f"{pkg}.cloud_opt"),
            }
        except ImportError:
            continue
    raise ImportError("neither `dust3r` nor `mini_dust3r` is installed (pip install mini-dust3r)")


def parse_model_args(expr: str) -> dict[str, Any]:
    """Keyword arguments of a checkpoint's ``AsymmetricCroCo3DStereo(...)`` string, without eval."""
    call = ast.parse(expr.strip(), mode="eval").body
    if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == MODEL_CLASS):
        raise ValueError(f"checkpoint args name no {MODEL_CLASS}(...) call: {expr[:80]!r}")

    class Inf(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id == "inf":
                return ast.Constant(math.inf)
            raise ValueError(f"unexpected name {node.id!r} in checkpoint args")

    kwargs = {kw.arg: ast.literal_eval(Inf().visit(kw.value)) for kw in call.keywords}
    kwargs["patch_embed_cls"] = "PatchEmbedDust3R"  # any aspect ratio, like load_model does
    kwargs["landscape_only"] = False
    return kwargs


def load_checkpoint(path: Path) -> torch.nn.Module:
    """A .pth checkpoint {'args', 'model'} (official training format), loaded weights-only."""
    import argparse

    ckpt = load_weights_only(path, admit=[argparse.Namespace])
    args = ckpt["args"]
    expr = args.model if hasattr(args, "model") else args["model"]
    net = getattr(backend()["model"], MODEL_CLASS)(**parse_model_args(expr))
    net.load_state_dict(ckpt["model"], strict=True)
    return net


@functools.lru_cache(maxsize=2)
def load_model(spec: str, device: str) -> torch.nn.Module:
    """The DUSt3R network for `spec` (.pth / .safetensors file, HF folder or Hub id), once."""
    cls = getattr(backend()["model"], MODEL_CLASS)
    p = Path(spec).expanduser()
    if p.suffix == ".pth":
        net = load_checkpoint(resolve_file(p, what="DUSt3R checkpoint"))
    else:
        folder = p.parent if p.suffix == ".safetensors" else p
        if not folder.is_dir():
            folder = resolve_dir(
                spec, what="DUSt3R weights", allow_patterns=["config.json", "*.safetensors"]
            )
        if not (folder / "config.json").is_file():
            raise WeightsNotFound(f"DUSt3R weights: {folder} has no config.json (HF format)")
        net = cls.from_pretrained(str(folder))
    return net.to(device).eval()


def network_size(height: int, width: int, image_size: int) -> tuple[int, int]:
    """(h, w) at the network: long side `image_size`, both multiples of the patch size."""
    s = image_size / max(height, width)
    return (
        max(PATCH, round(height * s / PATCH) * PATCH),
        max(PATCH, round(width * s / PATCH) * PATCH),
    )


def to_views(images: np.ndarray, image_size: int) -> list[dict[str, Any]]:
    """DUSt3R image dicts (normalised to [-1, 1]) from uint8 RGB frames (F,H,W,3)."""
    h, w = network_size(images.shape[1], images.shape[2], image_size)
    resized = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images])
    tensor = torch.from_numpy(resized).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return [
        {"img": tensor[i : i + 1], "true_shape": np.int32([[h, w]]), "idx": i, "instance": str(i)}
        for i in range(len(images))
    ]


def pair_graph(n: int, cfg: Dust3rConfig, sparse: bool = False) -> str:
    """The scene graph: complete for small clips, the sparse one above the limit or after OOM."""
    return cfg.sparse_graph if sparse or n > cfg.complete_max_frames else cfg.graph


def global_align(output: dict[str, Any], cfg: Dust3rConfig, device: str) -> dict[str, Any]:
    """Per-view K, cam2world, z-depth and conf at network size from pairwise point maps."""
    opt = backend()["opt"]
    torch.manual_seed(cfg.seed)
    scene = opt.global_aligner(
        output, device=device, mode=opt.GlobalAlignerMode.PointCloudOptimizer, verbose=False
    )
    scene.compute_global_alignment(init="mst", niter=cfg.niter, schedule=cfg.schedule, lr=cfg.lr)
    with torch.no_grad():
        return {
            "K": scene.get_intrinsics().cpu().numpy().astype(np.float64),
            "cam2world": scene.get_im_poses().cpu().numpy().astype(np.float64),
            "depth": np.stack([d.cpu().numpy() for d in scene.get_depthmaps()]),
            "conf": np.stack([c.cpu().numpy() for c in scene.im_conf]),
        }


def to_stored_size(recon: dict[str, Any], height: int, width: int) -> dict[str, np.ndarray]:
    """Map network-size K / depth / conf back to the stored frame size (h, w)."""
    nh, nw = recon["depth"].shape[1:]
    K = np.diag([width / nw, height / nh, 1.0]) @ recon["K"]

    def resize(maps: np.ndarray) -> np.ndarray:
        return np.stack(
            [cv2.resize(m.astype(np.float32), (width, height), cv2.INTER_LINEAR) for m in maps]
        )

    return {
        "K": K,
        "cam2world": recon["cam2world"],
        "depth": resize(recon["depth"]),
        "conf": resize(recon["conf"]),
    }


def infer_pairs(model: torch.nn.Module, views: list[dict[str, Any]], graph: str,
                cfg: Dust3rConfig, device: str) -> dict[str, Any]:  # fmt: skip
    """Pairwise point maps of the clip's views over `graph` (symmetrised)."""
    b = backend()
    pairs = b["pairs"].make_pairs(views, scene_graph=graph, symmetrize=True)
    with torch.no_grad():
        return b["inference"].inference(
            pairs, model, device, batch_size=cfg.batch_size, verbose=False
        )


def reconstruct_images(images: np.ndarray, cfg: Dust3rConfig) -> dict[str, np.ndarray]:
    """K, cam2world, depth, conf at the stored size for uint8 RGB frames (F,H,W,3).

    A CUDA out-of-memory error is retried once with the sparse pair graph.
    """
    device = str(pick_device(cfg.device))
    model = load_model(cfg.weights, device)
    views = to_views(images, cfg.image_size)
    try:
        recon = global_align(
            infer_pairs(model, views, pair_graph(len(views), cfg), cfg, device), cfg, device
        )
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        sparse = pair_graph(len(views), cfg, sparse=True)
        try:
            recon = global_align(infer_pairs(model, views, sparse, cfg, device), cfg, device)
        except torch.cuda.OutOfMemoryError as e:
            torch.cuda.empty_cache()
            raise StageFailure(
                f"CUDA out of memory for {len(views)} frames, also with graph {sparse!r}"
            ) from e
    return to_stored_size(recon, images.shape[1], images.shape[2])
