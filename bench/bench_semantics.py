"""Semantics benchmark: CPU images/s of the indoor classifier and the segmenter, indoor accuracy.

Models are the real architectures with random weights, saved in their official formats and
loaded through the same code as the stages (Places365 ResNet-18 and WideResNet-18 checkpoints;
Mask2Former Swin-T ADE20K with 100 queries and 150 classes), on 640×360 frames. Random weights
give meaningless labels, so quality is measured only through the synthetic tour: indoor filter
accuracy per truth shot (detected clips + the indoor stage's synthetic-gt backend), when the
shots stage and `ytocc synth` exist.
"""

from __future__ import annotations

import shutil
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


def bench_indoor_accuracy(work: Path) -> dict[str, Any]:
    """Indoor filter on the synthetic tour: every outdoor shot dropped, no indoor shot dropped.

    The tour comes from `ytocc synth`; clips from the shots stage's detector on its video; each
    clip samples frames evenly like the frames stage and goes through the indoor stage with the
    synthetic-gt backend, so the number measures cut placement plus the share rule end to end.
    """
    try:
        from tasks.shots import detect_shots
    except ImportError as e:
        return {"indoor_accuracy": None, "indoor_accuracy_note": f"not measured: {e}"}
    from typer.testing import CliRunner

    from flows.cli import _register, app
    from storage.config import load_config
    from storage.layout import DataRoot

    _register()
    tour = work / "tour"
    args = ["synth", str(tour), "--rooms", "2", "--seconds-per-room", "2"]
    made = CliRunner().invoke(app, [*args, "--width", "320", "--height", "180"])
    if made.exit_code != 0:
        return {
            "indoor_accuracy": None,
            "indoor_accuracy_note": f"ytocc synth: {made.output[-200:]}",
        }
    root = DataRoot(work / "data")
    cfg = load_config(overrides=["indoor.backend=synthetic-gt"], data=root.root)
    cfg.truth_dir = tour
    spans = [(int(a), int(b)) for a, b in detect_shots(tour / "tour.mp4", cfg.shots)[0]]
    return _shot_decisions(root, cfg, spans)


def _shot_decisions(root: Any, cfg: Any, spans: list[tuple[int, int]]) -> dict[str, Any]:
    """Run the indoor stage per detected clip; score each truth shot by the clips inside it."""
    from storage.atomic import write_json
    from storage.stages import run_item_stage
    from storage.truth import read_shots, truth_folder
    from tasks.indoor import run

    video = root.video_file("tour")  # the clips' video, recorded as harvested
    video.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(cfg.truth_dir) / "tour.mp4", video)  # synthetic-gt checks its bytes
    for stage in ("download", "shots"):
        run_item_stage(root, cfg, "tour", stage, lambda: None)

    shots = read_shots(truth_folder(cfg.truth_dir))
    starts = np.array([s.start_frame for s in shots])
    verdicts: dict[int, list[bool]] = {i: [] for i in range(len(shots))}
    for i, (start, end) in enumerate(spans):
        clip = f"tour-{i:03d}"
        count = min(cfg.frames.per_clip, end - start)
        frames = np.unique(np.linspace(start, end - 1, count).round().astype(int))
        write_json(
            root.frames_index(clip), {"video_frames": frames.tolist(), "width": 1, "height": 1}
        )
        run_item_stage(root, cfg, clip, "frames", lambda: None)  # recorded like a frames run
        owner = np.bincount(np.searchsorted(starts, frames, side="right") - 1).argmax()
        verdicts[int(owner)].append(run(root, cfg, clip).status == "skipped")
    pairs = [(s.indoor, verdicts[i]) for i, s in enumerate(shots)]
    indoor_kept = sum(indoor and bool(v) and not any(v) for indoor, v in pairs)
    outdoor_dropped = sum(not indoor and all(v) for indoor, v in pairs)
    n_in = sum(s.indoor for s in shots)
    return {
        "tour_shots": len(shots),
        "detected_clips": len(spans),
        "indoor_shots_kept": f"{indoor_kept}/{n_in}",
        "outdoor_shots_dropped": f"{outdoor_dropped}/{len(shots) - n_in}",
        "indoor_accuracy": round((indoor_kept + outdoor_dropped) / max(len(shots), 1), 3),
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
