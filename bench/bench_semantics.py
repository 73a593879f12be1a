"""Semantics benchmark: CPU images/s of the indoor classifier and the segmenter, indoor accuracy.

Models are the real architectures with random weights, saved in their official formats and
loaded through the same code as the stages (Places365 ResNet-18 and WideResNet-18 checkpoints;
Mask2Former Swin-T ADE20K with 100 queries and 150 classes), on 640×360 frames. Random weights
give meaningless labels, so quality is measured only through the synthetic tour: indoor filter
accuracy per truth shot with the indoor stage's synthetic-gt backend, when ``tasks.synth``
exists to render a tour.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

FRAME = (360, 640)  # the frames stage's working size (long side 640)
THREADS = 2


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, *FRAME, 3), np.uint8)


def _rate(fn: Any, images: np.ndarray, batch: int) -> float:
    """Images per second of `fn` over `images` in batches, after one warm-up batch."""
    fn(images[:batch])
    t0 = time.perf_counter()
    for i in range(0, len(images), batch):
        fn(images[i : i + batch])
    return round(len(images) / (time.perf_counter() - t0), 2)


def bench_places365(folder: Path) -> dict[str, float]:
    """images/s of each Places365 arch at batch 16 (preprocessing included)."""
    from models.places365 import build_model, classify, load_classifier, save_checkpoint

    out = {}
    folder.mkdir(parents=True, exist_ok=True)
    images = _frames(32)
    for arch in ("resnet18", "wideresnet18"):
        save_checkpoint(build_model(arch), folder / f"{arch}_places365.pth.tar", arch)
        model = load_classifier(str(folder), arch, "cpu")
        out[f"places365_{arch}_images_per_s"] = _rate(
            lambda x, m=model: classify(m, x, 16), images, 16
        )
    return out


def bench_mask2former(folder: Path) -> dict[str, Any]:
    """images/s of Mask2Former Swin-T ADE20K (47 M parameters) on 640×360 frames, batch 2."""
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    from models.segmenters import load_segmenter
    from models.segmenters.mask2former import ADE20K_TO_NYU11

    names = list(ADE20K_TO_NYU11)
    backbone = SwinConfig(
        embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )  # fmt: skip
    config = Mask2FormerConfig(
        backbone_config=backbone, num_labels=150, id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
    )  # fmt: skip
    Mask2FormerForUniversalSegmentation(config).save_pretrained(folder)
    size = {"shortest_edge": 512, "longest_edge": 2048}  # ADE20K training crop: 512
    Mask2FormerImageProcessor(size=size).save_pretrained(folder)
    seg = load_segmenter("mask2former-ade", str(folder), "cpu")
    params = sum(p.numel() for p in seg.model.parameters())
    return {
        "mask2former_swin_t_images_per_s": _rate(seg.segment, _frames(4, 1), 2),
        "mask2former_params_m": round(params / 1e6, 1),
        "mask2former_input_short_side": size["shortest_edge"],
    }


def bench_indoor_accuracy(folder: Path) -> dict[str, Any]:
    """Indoor filter on the synthetic tour's shots: outdoor shots dropped, indoor shots kept."""
    try:
        from tasks.synth import render_tour  # written by the synthetic-tour engineer
    except ImportError as e:
        return {"indoor_accuracy": None, "indoor_accuracy_note": f"not measured: {e}"}
    from storage.config import load_config
    from storage.layout import DataRoot
    from storage.truth import read_shots
    from tasks.indoor import run

    tour = render_tour(folder / "tour")
    truth = tour / "truth" if (tour / "truth").exists() else tour
    root = DataRoot(folder / "data")
    cfg = load_config(overrides=["indoor.backend=synthetic-gt"], data=root.root)
    cfg.truth_dir = truth
    return _shot_decisions(root, cfg, read_shots(truth), run)


def _shot_decisions(root: Any, cfg: Any, shots: list[Any], run: Any) -> dict[str, Any]:
    """One clip per truth shot (its frames sampled evenly), run the indoor stage, score drops."""
    from storage.atomic import write_json
    from storage.markers import Marker, write_marker

    kept_indoor = dropped_outdoor = 0
    for i, shot in enumerate(shots):
        clip = f"tour-{i:03d}"
        frames = np.linspace(shot.start_frame, shot.end_frame - 1, 8).round().astype(int).tolist()
        write_json(root.frames_index(clip), {"video_frames": frames, "width": 1, "height": 1})
        write_marker(root.marker(clip, "frames"), Marker("frames", clip, "ok", params_hash="b"))
        dropped = run(root, cfg, clip).status == "skipped"
        kept_indoor += shot.indoor and not dropped
        dropped_outdoor += (not shot.indoor) and dropped
    n_in = sum(s.indoor for s in shots)
    return {
        "indoor_shots_kept": f"{kept_indoor}/{n_in}",
        "outdoor_shots_dropped": f"{dropped_outdoor}/{len(shots) - n_in}",
        "indoor_accuracy": round((kept_indoor + dropped_outdoor) / max(len(shots), 1), 3),
    }


def run(out_dir: Path) -> dict[str, Any]:
    """All semantics measurements as JSON-able numbers."""
    torch.set_num_threads(THREADS)
    result: dict[str, Any] = {"device": "cpu", "threads": THREADS, "frame_hw": list(FRAME)}
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        work = Path(tmp)
        result |= bench_places365(work / "places365")
        result |= bench_mask2former(work / "mask2former")
        result |= bench_indoor_accuracy(work)
    return result
