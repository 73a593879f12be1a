"""Dataset benchmark: freeze rate, loader samples/s, grid render time.

Built on a generated data root of finished clips (640×360 frames, the frames stage's working
size; room-like 60×60×36 grids) written with the storage writers, so it measures ytocc's own
I/O and rendering, not a model.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import torch

from storage.config import Config
from storage.formats import read_sample
from storage.layout import DataRoot
from storage.loaders.ytocc import YtoccDataset
from tasks.dataset import freeze
from tasks.render import frame_beside_grid_png, render_grid_png
from tests.support.tiny_dataset import build_root

FRAME = (360, 640)
VIDEOS = {f"video{i}": 2 for i in range(6)}  # 12 clips
FRAMES_PER_CLIP = 8  # 96 samples


def _timed(fn: Any, repeat: int) -> float:
    """Mean seconds of `fn()` over `repeat` calls after one warm-up call."""
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def run(out_dir: Path) -> dict[str, Any]:
    torch.set_num_threads(2)
    work = out_dir / "bench_dataset_work"
    shutil.rmtree(work, ignore_errors=True)
    root = DataRoot(work / "data")
    build_root(root, VIDEOS, FRAMES_PER_CLIP, size=FRAME)

    t0 = time.perf_counter()
    summary = freeze(root, Config(), "bench")
    freeze_s = time.perf_counter() - t0
    n = summary.counts["total"]["samples"]

    ds = YtoccDataset(summary.path, "train")
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    load_rate = len(ds) / (time.perf_counter() - t0)
    half = YtoccDataset(summary.path, "train", size=(FRAME[0] // 2, FRAME[1] // 2))
    t0 = time.perf_counter()
    for i in range(len(half)):
        half[i]
    resized_rate = len(half) / (time.perf_counter() - t0)

    row = ds.rows[0]
    target = read_sample(summary.path / row["sample_path"])["target"]
    frame = summary.path / row["frame_path"]
    result = {
        "samples": n,
        "frame_size": list(FRAME),
        "freeze_samples_per_s": round(n / freeze_s, 1),
        "loader_samples_per_s": round(load_rate, 1),
        "loader_resized_half_samples_per_s": round(resized_rate, 1),
        "render_grid_512_ms": round(1000 * _timed(lambda: render_grid_png(target, 512), 5), 1),
        "render_grid_240_ms": round(1000 * _timed(lambda: render_grid_png(target, 240), 5), 1),
        "frame_beside_grid_240_ms": round(
            1000 * _timed(lambda: frame_beside_grid_png(frame, target, 240), 5), 1
        ),
    }
    shutil.rmtree(work, ignore_errors=True)
    return result
