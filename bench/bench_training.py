"""Training throughput and peak memory of every registered occupancy network at NYUv2 size.

Each network trains on ray-cast room samples upscaled to 480×640 (NYUv2's frames) with the full
60×60×36 grid: fine-tuning steps (the network's own losses; MonoScene's five) and pretraining
steps (a DINOv2-small-sized random embedder, InfoNCE, the projection where widths differ).
CPU: batch 1, fp32; a GPU when present: batch 4, mixed precision (bfloat16). Pretrained backbones
are replaced by random ones of the same architecture (no downloads; speed and memory are the
same). Every network runs in its own process so its peak memory (max RSS on CPU,
``torch.cuda.max_memory_allocated`` on a GPU) is its own; a network that cannot be built here
(Symphonies) is listed with the reason.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.device import pick_device  # noqa: E402
from models.occupancy.registry import NETWORKS  # noqa: E402
from storage.config import TrainConfig  # noqa: E402
from tasks.training.finetune import occupancy_step  # noqa: E402
from tasks.training.pretrain import contrastive_step, projection  # noqa: E402
from tasks.training.trainer import autocast, new_network, to_device  # noqa: E402

IMAGE_HW = (480, 640)
NET_ARGS = {"monoscene": {"backbone_weights": None}}
"""Arguments per network: random backbones (the architecture is what is measured)."""
CPU_PLAN = {"monoscene": (0, 1, ("finetune",))}
"""Per network on CPU: (warm-up steps, timed steps, phases); MonoScene-B7 takes many minutes a
step at 480×640 on 2 cores, so it gets one timed fine-tuning step and no warm-up there."""
DEFAULT_CPU_PLAN = (1, 3, ("finetune", "pretrain"))
GPU_PLAN = (1, 10, ("finetune", "pretrain"))


def _batch(batch_size: int) -> dict:
    """Room samples resized to IMAGE_HW (image bilinear; depth, regions nearest; K scaled)."""
    from tests.support.tiny_training import RoomDataset

    ds = RoomDataset(batch_size)
    b = {
        k: torch.stack([ds[i][k] for i in range(batch_size)])
        for k in ("image", "cam_k", "cam_pose", "voxel_origin", "target", "depth", "regions")
    }
    h0, w0 = b["image"].shape[2:]
    b["image"] = F.interpolate(b["image"], size=IMAGE_HW, mode="bilinear", align_corners=False)
    for k in ("depth", "regions"):
        b[k] = F.interpolate(b[k][:, None].double(), size=IMAGE_HW, mode="nearest")[:, 0].to(
            b[k].dtype
        )
    b["cam_k"][:, 0] *= IMAGE_HW[1] / w0
    b["cam_k"][:, 1] *= IMAGE_HW[0] / h0
    b["name"] = [f"room-{i}" for i in range(batch_size)]
    return b


def _time_steps(modules, step, batch, warmup: int, steps: int, device, amp_dtype) -> dict:
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-4)
    scaler_free = amp_dtype in (None, torch.bfloat16)
    assert scaler_free, "bench uses bfloat16 or fp32 only"

    def one() -> None:
        with autocast(device, amp_dtype):
            out = step(modules[0], batch)
        loss = out["loss"] if isinstance(out, dict) else out
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):  # allocations, cuDNN autotune
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    n = steps * len(batch["name"])
    out = {"warmup_steps": warmup, "steps": steps, "seconds": round(secs, 2),
           "samples_per_s": round(n / secs, 4)}  # fmt: skip
    if device.type == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def measure(name: str) -> dict:
    """Fine-tune and pretrain throughput of network `name` in this process."""
    from transformers import Dinov2Config, Dinov2Model

    device = pick_device("auto")
    cpu = device.type == "cpu"
    if cpu:
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    amp_dtype = None if cpu else torch.bfloat16
    batch_size = 1 if cpu else 4
    warmup, steps, phases = CPU_PLAN.get(name, DEFAULT_CPU_PLAN) if cpu else GPU_PLAN
    cfg = TrainConfig(device=str(device), batch_size=batch_size, pixel_stride=4, network=name,
                      net_args=NET_ARGS.get(name, {}))  # fmt: skip
    try:
        model, args = new_network(cfg)
    except ImportError as e:
        return {"network": name, "available": False, "reason": str(e)}
    model.to(device)
    batch = to_device(_batch(batch_size), device)
    result = {
        "network": name,
        "device": str(device),
        "precision": "bf16 autocast" if amp_dtype else "fp32",
        "image_hw": list(IMAGE_HW),
        "grid": list(model.dims),
        "batch_size": batch_size,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
    }
    result["finetune"] = _time_steps([model], occupancy_step(torch.ones(12)), batch, warmup,
                                     steps, device, amp_dtype)  # fmt: skip
    if "pretrain" not in phases:
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return result
    torch.manual_seed(0)
    embedder = Dinov2Model(Dinov2Config(hidden_size=384, num_hidden_layers=12,
                                        num_attention_heads=6, intermediate_size=1536,
                                        patch_size=14))  # fmt: skip
    embedder.requires_grad_(False)
    embedder.eval().to(device)
    project = projection(int(model.feature_dim), 384).to(device)
    result["pretrain"] = _time_steps([model, project], contrastive_step(embedder, cfg, project),
                                     batch, warmup, steps, device, amp_dtype)  # fmt: skip
    result["pretrain"]["embedder"] = "random DINOv2-small-sized (384 wide, 12 layers)"
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def run(out_dir: Path) -> dict:
    """Every registered network, each measured in a fresh process; JSON-able numbers."""
    nets = [n for n in NETWORKS if n in os.environ.get("BENCH_NETWORKS", n).split(",")]
    results = []
    for name in nets:
        proc = subprocess.run(
            [sys.executable, __file__, name], capture_output=True, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        if proc.returncode != 0:
            results.append({"network": name, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"image_hw": list(IMAGE_HW), "networks": results}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))
