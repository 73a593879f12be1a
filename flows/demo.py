"""`make demo`: the whole pipeline on the synthetic house tour, offline, on CPU.

synth a tour → serve it on a loopback HTTP server → `build` (yt-dlp download, shots, frames,
then synthetic-gt reconstruct/indoor/segment, real clean/align/voxelize) → dataset → how close
the samples are to the true grids → a short CPU pretraining (DINOv2 with *random* weights: the
real ones cannot be downloaded here) and fine-tuning → evaluation table (on the val split, or on
train when the tour's one video put every clip there) → where everything is.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

SYNTHETIC_GT = ("reconstruct", "indoor", "segment")
TINY_NET = {"enc_widths": [16, 32], "lift_dim": 16, "unet_widths": [16, 32]}


def pipeline_overrides(truth: Path) -> list[str]:
    """Config for the offline demo: synthetic-gt model stages, everything else real."""
    return [f"truth_dir={truth}", *(f"{s}.backend=synthetic-gt" for s in SYNTHETIC_GT)]


def truth_quality(dataset: Path, data: Path, truth: Path) -> dict[str, Any]:
    """IoU/mIoU of the dataset's samples against the tour's true grids (storage/metrics convention)."""
    import pandas as pd

    from models.metrics import SSCMetrics
    from storage.atomic import read_json
    from storage.formats import UNKNOWN, read_recon, read_sample
    from storage.layout import DataRoot
    from tasks.align import similarity_matrix
    from tasks.synth.occupancy import truth_occupancy

    root = DataRoot(data)
    metrics = SSCMetrics(average="present")  # fidelity on the classes the tour holds
    rows = pd.concat([pd.read_parquet(p) for p in sorted(dataset.glob("*.parquet"))])
    for clip, group in rows.groupby("clip_id"):
        total = (
            similarity_matrix(read_json(root.align_json(clip)))
            @ read_recon(root.recon_npz(clip))["similarity"]
        )
        frames = read_json(root.frames_index(clip))["video_frames"]
        for k in group.k:
            s = read_sample(root.occ_path(clip, int(k)))
            true = truth_occupancy(truth, frames[int(k)], s["voxel_origin"], world_from_truth=total)
            metrics.add(np.where(s["target"] == UNKNOWN, 0, s["target"]), true)
    return metrics.summary()


def train_and_evaluate(dataset: Path, out: Path, epochs: tuple[int, int]) -> dict[str, Any]:
    """Pretrain (random-weight DINOv2), fine-tune, evaluate on the val split."""
    from flows.train import evaluate_flow, finetune_flow, pretrain_flow
    from models.embed import save_random_dinov2
    from storage.config import TrainConfig

    dino = out / "weights" / "dinov2-random"
    if not (dino / "config.json").exists():
        save_random_dinov2(dino, hidden_size=32, layers=2, image_size=112)
    base = dict(device="cpu", embed_weights=str(dino), net_args=TINY_NET, embed_input_size=112,
                batch_size=2, image_hw=(180, 320))  # fmt: skip
    pre = pretrain_flow(str(dataset), str(out / "pretrain"), TrainConfig(**base, epochs=epochs[0]))
    fine = finetune_flow(
        str(dataset), str(out / "finetune"), TrainConfig(**base, epochs=epochs[1]), init=pre
    )
    split = "val" if has_rows(dataset, "val") else "train"  # one video: every clip is train
    summary = evaluate_flow(
        fine, str(dataset), str(out / "eval.json"), TrainConfig(**base), split=split
    )
    return summary | {"split": split}


def has_rows(dataset: Path, split: str) -> bool:
    """True when the frozen dataset's `split` holds at least one sample."""
    import pyarrow.parquet as pq

    path = dataset / f"{split}.parquet"
    return path.exists() and pq.read_metadata(path).num_rows > 0


def ui_hint() -> str:
    api = os.environ.get("PREFECT_API_URL")
    if api:
        return api.removesuffix("/api") + "/runs"
    return "runs were ephemeral: start `make ui`, then `PREFECT_API_URL=http://127.0.0.1:4200/api make demo`"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the demo; print and return where the dataset, report and UI are."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--rooms", type=int, default=3)
    parser.add_argument("--seconds-per-room", type=float, default=4.0)
    parser.add_argument("--size", default="640x360", help="tour frame size WxH")
    parser.add_argument("--epochs", default="2,4", help="pretrain,finetune epochs")
    parser.add_argument("--no-train", action="store_true", help="stop after the dataset")
    args = parser.parse_args(argv)
    from flows.build import run_build
    from flows.loopback import serve_directory
    from tasks.synth.tour import TourSpec, make_tour

    out = args.out.resolve()
    tour, data = out / "tour", out / "data"
    w, h = (int(v) for v in args.size.split("x"))
    times: dict[str, float] = {}
    t = time.perf_counter()
    if not (tour / "truth" / "meta.json").exists():
        make_tour(tour, TourSpec(args.rooms, args.seconds_per_room, w, h, 24, 0))
    times["synth"] = time.perf_counter() - t
    t = time.perf_counter()
    with serve_directory(tour) as url:
        built = run_build(
            [f"{url}/tour.mp4"], str(data), None, pipeline_overrides(tour / "truth"), "demo"
        )
    times["build"] = time.perf_counter() - t
    summary: dict[str, Any] = {
        "dataset": built["dataset"],
        "report": built["report"],
        "clips": built["clips"],
    }
    if built["dataset"]:
        t = time.perf_counter()
        summary["quality_vs_truth"] = truth_quality(Path(built["dataset"]), data, tour / "truth")
        times["quality"] = time.perf_counter() - t
        if not args.no_train:
            t = time.perf_counter()
            pre, fine = (int(v) for v in args.epochs.split(","))
            summary["evaluation"] = train_and_evaluate(
                Path(built["dataset"]), out / "runs", (pre, fine)
            )
            times["train"] = time.perf_counter() - t
    summary["wall_s"] = {k: round(v, 1) for k, v in times.items()}
    summary["ui"] = ui_hint()
    (out / "demo.json").write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary)
    return summary


def print_summary(s: dict[str, Any]) -> None:
    ok = sum(c["status"] == "ok" for c in s["clips"])
    print(f"\nclips: {ok} of {len(s['clips'])} ok")
    for c in s["clips"]:
        if c["status"] != "ok":
            print(f"  {c['clip']}: {c['status']} at {c['stage']}: {c['reason']}")
    q = s.get("quality_vs_truth")
    if q:
        print(f"samples vs true grids: IoU {q['iou']:.1f}  mIoU {q['miou']:.1f} (classes present)")
    e = s.get("evaluation")
    if e:
        print(
            f"fine-tuned network on the {e['split']} split: IoU {e['iou']:.1f}  mIoU {e['miou']:.1f}"
        )
    print(f"wall seconds: {s['wall_s']}")
    print(f"dataset: {s['dataset']}\nreport:  {s['report']}\nUI:      {s['ui']}")


if __name__ == "__main__":
    main()
