"""Training throughput of the default occupancy network at full grid size (60×60×36).

Measures fine-tuning steps (cross-entropy) and pretraining steps (DINOv2-small-sized random
embedder + InfoNCE) on ray-cast room samples upscaled to 480×640: samples/s and peak memory
(process max RSS on CPU; ``torch.cuda.max_memory_allocated`` on a GPU, used when present).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from models.device import pick_device
from storage.config import TrainConfig
from tasks.training.finetune import occupancy_step
from tasks.training.pretrain import contrastive_step
from tasks.training.trainer import new_network, to_device

IMAGE_HW = (480, 640)


def _batch(batch_size: int) -> dict:
    """Room samples resized to IMAGE_HW (image bilinear; depth, regions nearest; K scaled)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
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


def _time_steps(model, step, batch, steps: int, device: torch.device) -> dict:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def one() -> None:
        loss = step(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one()  # warm-up (allocations, cuDNN autotune)
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
    out = {"steps": steps, "seconds": round(secs, 2), "samples_per_s": round(n / secs, 3)}
    if device.type == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def run(out_dir: Path) -> dict:
    """Fine-tune and pretrain throughput of the default network; JSON-able numbers."""
    from transformers import Dinov2Config, Dinov2Model

    device = pick_device("auto")
    cpu = device.type == "cpu"
    if cpu:
        torch.set_num_threads(2)
    batch_size, steps = (1, 4) if cpu else (4, 10)
    cfg = TrainConfig(device=str(device), batch_size=batch_size, pixel_stride=4)
    batch = to_device(_batch(batch_size), device)
    model, args = new_network(cfg)
    model.to(device)
    result = {
        "device": str(device),
        "image_hw": list(IMAGE_HW),
        "grid": list(model.dims),
        "batch_size": batch_size,
        "net_args": args,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
    }
    result["finetune"] = _time_steps(model, occupancy_step(torch.ones(12)), batch, steps, device)
    torch.manual_seed(0)
    embedder = Dinov2Model(
        Dinov2Config(
            hidden_size=384,
            num_hidden_layers=12,
            num_attention_heads=6,
            intermediate_size=1536,
            patch_size=14,
        )
    )
    embedder.requires_grad_(False)
    embedder.eval().to(device)
    result["pretrain"] = _time_steps(model, contrastive_step(embedder, cfg), batch, steps, device)
    result["pretrain"]["embedder"] = "random DINOv2-small-sized (384 wide, 12 layers)"
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(Path("bench/results")), indent=2))
